export * from './environment.js';
export * from './metrics.js';
export * from './routes.js';
export * from './streaming.js';
