// Node 20 lacks Promise.withResolvers, which aws-local-stepfunctions needs (Lambda itself runs Node 22).
const promiseConstructor: object = Promise;
if (!('withResolvers' in promiseConstructor)) {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: <T>() => {
      let resolve: (value: T | PromiseLike<T>) => void = () => undefined;
      let reject: (reason?: unknown) => void = () => undefined;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}
