// The local workflow runtime polyfills what aws-local-stepfunctions needs on Node 20.
import '../local/workflows/promiseWithResolvers.js';
