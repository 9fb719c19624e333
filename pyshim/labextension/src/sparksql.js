/**
 * Spark SQL for CodeMirror 6: the standard SQL dialect of @codemirror/lang-sql falls short
 * for Spark. It has no backquoted identifiers, no double-quoted strings and no backslash
 * escapes, and it lacks Spark's own keywords (RLIKE, DISTRIBUTE BY, LATERAL VIEW, PIVOT,
 * TABLESAMPLE, CACHE TABLE, ...). Its CodeMirror language name stays `sql`.
 */
export const SPARK_SQL_MIME = 'text/x-sparksql';

// Spark 3.5's keywords (docs: sql-ref-ansi-compliance, "SQL Keywords"), lower case.
const KEYWORDS = `add after all alter always analyze and anti any archive array as asc at authorization
between both bucket buckets by cache cascade case cast catalog catalogs change check clear cluster
clustered code codegen collate collection column columns comment commit compact compactions compute
concatenate constraint cost create cross cube current current_date current_time current_timestamp
current_user data database databases datediff dateadd day dayofyear days dbproperties default defined
delete delimited desc describe dfs directories directory distinct distribute div drop else end escape
escaped except exchange exclude exists explain export extended external extract false fetch fields
fileformat first following for foreign format formatted from full function functions generated global
grant group grouping having hour hours identifier if ignore ilike import in include index indexes inner
inpath inputformat insert intersect interval into is items join keys last lateral lazy leading left like
limit lines list load local location lock locks logical macro map matched merge microsecond microseconds
millisecond milliseconds minus minute minutes month months msck namespace namespaces nanosecond
nanoseconds natural no not null nulls of offset on only option options or order out outer outputformat
over overlaps overlay overwrite partition partitioned partitions percent percentile_cont
percentile_disc pivot placing position preceding primary principals properties purge qualify query
range recordreader recordwriter recover reduce references refresh rename repair repeatable replace
reset respect restrict revoke right rlike role roles rollback rollup row rows schema schemas second
seconds select semi separated serde serdeproperties session_user set sets show skewed some sort sorted
source start statistics stored stratify struct substr substring sync system_time system_version table
tables tablesample target tblproperties temp temporary terminated then time to touch trailing
transaction transactions transform trim true truncate try_cast type unarchive unbounded uncache union
unique unknown unlock unpivot unset update use user using values var variable version view views when
where window with within week weeks year years zone`;

const TYPES = `array bigint binary boolean byte char date dec decimal double float int integer interval
long map numeric real short smallint string struct timestamp timestamp_ltz timestamp_ntz tinyint
varchar void`;

/** The LanguageSupport, loaded with @codemirror/lang-sql on first use (shared with JupyterLab). */
export async function loadSparkSql() {
  const { SQLDialect, sql } = await import('@codemirror/lang-sql');
  const dialect = SQLDialect.define({
    keywords: KEYWORDS.replace(/\s+/g, ' '),
    types: TYPES.replace(/\s+/g, ' '),
    identifierQuotes: '`',
    doubleQuotedStrings: true,
    backslashEscapes: true
  });
  return sql({ dialect, upperCaseKeywords: true });
}
