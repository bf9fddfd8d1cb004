export * from './parseEnvironment.js';
export * from './redisEnvironment.js';
