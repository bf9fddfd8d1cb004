import { RemovalPolicy } from 'aws-cdk-lib';
import type { RetentionConfig } from '../config/index.js';

/** The CDK removal policy of the environment's `retention.removalPolicy`. */
export const removalPolicyOf = (retention: RetentionConfig): RemovalPolicy =>
  retention.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
