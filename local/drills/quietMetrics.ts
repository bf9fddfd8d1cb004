/**
 * Imported first by the `drill` command: the services' metrics would go to stdout as EMF, as in Lambda, and
 * drown the scorecards. Some modules create their Metrics when imported, so this must run before them.
 */
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
