export * from './parseEnvironment.js';
export * from './producerEnvironment.js';
export * from './redisEnvironment.js';
