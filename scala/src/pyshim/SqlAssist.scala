package pyshim

import scala.util.Try

import org.apache.spark.sql.SparkSession

/**
 * Completion and help in `%%sql` cells, from the session's catalog in the kernel's memory
 * (no Spark job, no sidecar): Spark's SQL keywords, the tables and views of the current
 * database and the temp views, every function of the session's registry (built-ins, model
 * functions, Python UDFs registered from `%%python`) and the columns of the tables that the
 * query names after FROM or JOIN. After `name.`, the columns of that table or alias, or the
 * tables of that database.
 */
object SqlAssist {
  private lazy val keywords: Seq[String] = sparkKeywords()
  private lazy val keywordSet: Set[String] = keywords.toSet
  private val Identifier = """[A-Za-z_]\w*"""
  private val TableRef = ("""(?i)\b(?:from|join)\s+(""" + Identifier + """(?:\.""" + Identifier + """)?)""" +
    """(?:\s+(?:as\s+)?(""" + Identifier + "))?").r

  /** (start of the replaced word, matches), UTF-16 indices in `sql`. */
  def complete(session: Option[SparkSession], sql: String, cursor: Int): (Int, List[String]) = {
    val start = Words.start(sql, cursor)
    val prefix = sql.substring(start, cursor).toLowerCase
    val named = tablesNamed(sql)
    val spark = session.toSeq // no session yet (PYSHIM_WARM_START=0, nothing ran): keywords only
    val candidates =
      if (start > 0 && sql.charAt(start - 1) == '.') {
        val qualifier = sql.substring(Words.start(sql, start - 1), start - 1)
        spark.flatMap(s => columns(s, named.getOrElse(qualifier.toLowerCase, qualifier)) ++ tablesOf(s, qualifier))
      } else {
        val lower = prefix.nonEmpty && sql.substring(start, cursor) == prefix
        spark.flatMap(s => named.values.toSeq.distinct.flatMap(columns(s, _)).sorted ++ tables(s).sorted ++
          functions(s).sorted) ++ keywords.map(k => if (lower) k.toLowerCase else k).sorted
      }
    (start, candidates.filter(_.toLowerCase.startsWith(prefix)).distinct.toList)
  }

  /**
   * Spark's keywords, from its SQL lexer: SQLKeywordUtils is `private[sql]` (public in the
   * bytecode); the `sql_keywords()` table function gives the same list, with a Spark job.
   */
  private def sparkKeywords(): Seq[String] = Try {
    val utils = Class.forName("org.apache.spark.sql.catalyst.util.SQLKeywordUtils$").getField("MODULE$").get(null)
    utils.getClass.getMethod("keywords").invoke(utils).asInstanceOf[Seq[String]]
  }.orElse(Try(SparkSession.active.sql("SELECT keyword FROM sql_keywords()").collect().map(_.getString(0)).toSeq))
    .getOrElse(Nil)

  /** Alias or table name (lower case) -> table name, for `FROM t`, `JOIN db.t AS x`, `FROM t x`. */
  def tablesNamed(sql: String): Map[String, String] =
    TableRef.findAllMatchIn(sql).flatMap { m =>
      val table = m.group(1)
      val alias = Option(m.group(2)).filterNot(a => keywordSet(a.toUpperCase))
      (table.toLowerCase -> table) +: alias.map(_.toLowerCase -> table).toSeq
    }.toMap

  private def columns(spark: SparkSession, table: String): Seq[String] =
    Try(spark.table(table).schema.fieldNames.toSeq).getOrElse(Nil)

  private def tables(spark: SparkSession): Seq[String] = Try {
    val catalog = spark.sessionState.catalog
    catalog.listTables(catalog.getCurrentDatabase, "*", true).map(_.table)
  }.getOrElse(Nil)

  private def tablesOf(spark: SparkSession, database: String): Seq[String] = Try {
    val catalog = spark.sessionState.catalog
    if (catalog.databaseExists(database) || database.equalsIgnoreCase(spark.conf.get("spark.sql.globalTempDatabase", "global_temp")))
      catalog.listTables(database, "*", false).map(_.table)
    else Nil
  }.getOrElse(Nil)

  /** Functions of the registry, those with a name one can type (not `+` or `==`). */
  private def functions(spark: SparkSession): Seq[String] =
    Try(spark.sessionState.functionRegistry.listFunction().map(_.funcName).filter(_.matches(Identifier))).getOrElse(Nil)

  /** DESCRIBE FUNCTION EXTENDED, as one text; None when no such function. */
  def describeFunction(spark: SparkSession, name: String): Option[String] = Try {
    spark.sql(s"DESCRIBE FUNCTION EXTENDED ${quoted(name)}").collect().map(_.getString(0)).mkString("\n")
  }.toOption.filterNot(_.matches("(?s)Function: .* not found\\.?"))

  /** Help in a %%sql cell: a function's description, else a table's or view's columns. */
  def describe(spark: SparkSession, name: String): Option[String] =
    (if (Seq(TempFunctions.identifier(name), org.apache.spark.sql.catalyst.FunctionIdentifier(name))
          .exists(spark.sessionState.functionRegistry.functionExists)) describeFunction(spark, name) else None)
      .orElse(Try(s"$name\n${spark.table(name).schema.treeString}").toOption)

  private def quoted(name: String): String = "`" + name.replace("`", "``") + "`"

  /** Quotes, backticks and parentheses all closed: the statement can run. */
  def isComplete(sql: String): (String, String) = {
    var depth = 0
    var quote: Char = 0
    var i = 0
    while (i < sql.length) {
      val c = sql.charAt(i)
      if (quote != 0) { if (c == '\\' && quote != '`') i += 1 else if (c == quote) quote = 0 }
      else if (c == '-' && sql.startsWith("--", i)) { while (i < sql.length && sql.charAt(i) != '\n') i += 1 }
      else if (c == '\'' || c == '"' || c == '`') quote = c
      else if (c == '(') depth += 1
      else if (c == ')') depth -= 1
      i += 1
    }
    if (depth < 0) ("invalid", "") else if (quote != 0 || depth > 0) ("incomplete", "") else ("complete", "")
  }
}
