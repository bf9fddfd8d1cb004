/** Context attached to every game-day error. */
export type GameDayErrorContext = Readonly<Record<string, unknown>>;

export interface GameDayErrorOptions {
  readonly cause?: unknown;
  readonly context?: GameDayErrorContext;
  readonly retriable?: boolean;
}

/** Base of the errors of the game-day runner. `retriable` says whether the same call may succeed later. */
export class GameDayError extends Error {
  public override readonly name: string = 'GameDayError';
  public readonly context: GameDayErrorContext;
  public readonly retriable: boolean;

  public constructor(message: string, options: GameDayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.context = options.context ?? {};
    this.retriable = options.retriable ?? false;
  }
}

/** The scenario is not one the resilience stack defines. */
export class UnknownScenarioError extends GameDayError {
  public override readonly name = 'UnknownScenarioError';

  public constructor(scenario: string, known: readonly string[]) {
    super(`Unknown game-day scenario "${scenario}": expected one of ${known.join(', ')}`, {
      context: { scenario },
    });
  }
}

/** No experiment template carries the environment's and the scenario's tags, or more than one does. */
export class ExperimentTemplateNotFoundError extends GameDayError {
  public override readonly name = 'ExperimentTemplateNotFoundError';

  public constructor(environment: string, scenario: string, found: readonly string[]) {
    super(
      found.length === 0
        ? `No FIS experiment template tagged cdp:environment=${environment} and cdp:scenario=${scenario} ` +
            `in this account and region: deploy cdp-${environment}-resilience (resilience.enabled in ` +
            'lib/config) with the credentials and region of that environment'
        : `${found.length} FIS experiment templates are tagged cdp:environment=${environment} and ` +
            `cdp:scenario=${scenario} (${found.join(', ')}); expected exactly one`,
      { context: { environment, scenario, found } },
    );
  }
}
