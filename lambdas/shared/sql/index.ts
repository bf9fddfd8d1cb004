export { classifyDataApiError } from './classifyDataApiError.js';
export { classifyPgError } from './classifyPgError.js';
export { DataApiSqlClient, type DataApiSqlClientOptions } from './DataApiSqlClient.js';
export { fromFormattedRecords, toSqlParameters } from './dataApiMarshalling.js';
export { isDataRejection, isSqlError, SqlError } from './errors.js';
export { type CompiledStatement, compileNamedParameters } from './namedParameters.js';
export { PG_DEFAULTS, PgSqlClient, type PgSqlClientOptions } from './PgSqlClient.js';
export { sqlClientFor } from './sqlClientFor.js';
export {
  type SqlClient,
  type SqlExecutor,
  SqlJson,
  type SqlParams,
  type SqlResult,
  type SqlRow,
  type SqlValue,
} from './types.js';
