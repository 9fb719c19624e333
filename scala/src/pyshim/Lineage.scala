package pyshim

import java.io.File
import java.nio.charset.StandardCharsets
import java.security.MessageDigest
import java.time.Instant
import java.util.concurrent.{Executors, ThreadFactory, TimeUnit}

import scala.util.Try
import scala.util.control.NonFatal

import org.apache.hadoop.conf.Configuration
import org.apache.hadoop.fs.{FileStatus, Path}
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.catalog.{CatalogTable, HiveTableRelation}
import org.apache.spark.sql.catalyst.expressions.PythonUDF
import org.apache.spark.sql.catalyst.plans.logical.{LogicalPlan, V2WriteCommand}
import org.apache.spark.sql.execution.{QueryExecution, SparkPlan}
import org.apache.spark.sql.execution.adaptive.AdaptiveSparkPlanExec
import org.apache.spark.sql.execution.command.{CreateDataSourceTableAsSelectCommand, DataWritingCommand, DataWritingCommandExec}
import org.apache.spark.sql.execution.datasources.{FileIndex, HadoopFsRelation, InsertIntoHadoopFsRelationCommand, LogicalRelation,
  PartitioningAwareFileIndex, SaveIntoDataSourceCommand}
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation
import org.apache.spark.sql.util.QueryExecutionListener
import org.json4s._
import org.json4s.JsonDSL._
import org.json4s.jackson.JsonMethods.{compact, parse, pretty, render}

/**
 * Lineage of every write: a QueryExecutionListener (`spark.sql.queryExecutionListeners=pyshim.Lineage`,
 * set by pyshim's kernel and by `pyshim.defaults.spark_session()`). For each write it records
 * the inputs with a digest of their content, the model functions the query called (version,
 * run, model id, native or Python) and the output with its rows, bytes and files, into
 * `_pyshim_lineage.json` in the output folder; in a job (PYSHIM_JOB_RUN_ID) also into that
 * MLflow run, and as OpenLineage events when a transport is configured (both through
 * `python -m pyshim.lineage.emit`).
 *
 * Spark calls listeners on its listener bus after the query returned, so a query pays
 * nothing here; a query that is not a write costs one pattern match. The records are made on
 * a thread of their own; `Lineage.flush` waits for them (a Toree cell ends with it).
 */
class Lineage extends QueryExecutionListener {
  Lineage.installed = true

  override def onSuccess(funcName: String, qe: QueryExecution, durationNs: Long): Unit =
    if (Lineage.enabled) {
      try Writes.of(qe).foreach(Recorder.submit)
      catch { case NonFatal(e) => Lineage.warn(s"could not read the plan of a write: $e") }
    }

  override def onFailure(funcName: String, qe: QueryExecution, exception: Exception): Unit = ()
}

object Lineage {
  val FileName = "_pyshim_lineage.json"
  private val Off = Set("0", "false", "no", "off")

  /** PYSHIM_LINEAGE=0 turns recording off; bench/ toggles it to measure the listener's cost. */
  @volatile var enabled: Boolean = !sys.env.get("PYSHIM_LINEAGE").exists(v => Off(v.trim.toLowerCase))
  @volatile private[pyshim] var installed = false

  def isInstalled: Boolean = installed

  /**
   * Wait until the writes run so far are recorded (the listener bus delivered them and the
   * records are written). False when timeoutMs passed first.
   */
  def flush(timeoutMs: Long): Boolean = {
    val deadline = System.currentTimeMillis() + timeoutMs
    val delivered = SparkSession.getDefaultSession.orElse(SparkSession.getActiveSession)
      .filterNot(_.sparkContext.isStopped)
      .forall(s => org.apache.spark.pyshim.ListenerBus.waitUntilEmpty(s.sparkContext, timeoutMs))
    delivered && Recorder.awaitIdle(math.max(1L, deadline - System.currentTimeMillis()))
  }

  def flush(): Boolean = flush(120000L)

  /** The records in a folder's `_pyshim_lineage.json`, as JSON text ("" when it has none). */
  def read(folder: String): String = {
    val spark = Models.activeSession()
    Recorder.readText(new Path(folder, FileName), spark.sessionState.newHadoopConf()).getOrElse("")
  }

  private[pyshim] def warn(message: String): Unit = System.err.println(s"pyshim lineage: $message")
}

/** One write, as read from the plan on the listener's thread: the rest is computed later. */
final case class Write(output: Output, query: LogicalPlan, metrics: Map[String, Long], conf: Configuration,
                       session: SparkSession, sources: Seq[Source], functions: Seq[JValue])

/** Where a write went: a folder (path), a table (with its folder when it has one), or a data source. */
final case class Output(path: Option[String], table: Option[String], format: String, mode: String)

/** An input of the query: files under root paths (index: the listing the query used), or a named table. */
final case class Source(roots: Seq[String], table: Option[String], format: String, index: Option[FileIndex],
                        version: Option[String] = None)

object Writes {
  /** The write a query ran, if it was one: matched on the command node, as Spark's own writers make them. */
  def of(qe: QueryExecution): Option[Write] = {
    val found: Option[(Output, LogicalPlan)] = qe.analyzed match {
      case c: InsertIntoHadoopFsRelationCommand =>
        Some(Output(Some(c.outputPath.toString), c.catalogTable.map(_.identifier.unquotedString),
          formatName(c.fileFormat.toString), c.mode.toString) -> c.query)
      case c: CreateDataSourceTableAsSelectCommand =>
        Some(Output(tableLocation(qe.sparkSession, c.table), Some(c.table.identifier.unquotedString),
          c.table.provider.getOrElse(""), c.mode.toString) -> c.query)
      case c: SaveIntoDataSourceCommand =>
        val target = c.options.get("path").orElse(c.options.get("dbtable")).orElse(c.options.get("table"))
        Some(Output(c.options.get("path"), if (c.options.contains("path")) None else target,
          formatName(c.dataSource.getClass.getSimpleName), c.mode.toString) -> c.query)
      case c: V2WriteCommand =>
        Some(Output(None, Some(c.table.name), "v2", c.getClass.getSimpleName) -> c.query)
      case c: DataWritingCommand =>  // Hive tables and other writers of Spark's
        Some(Output(None, None, c.nodeName, "") -> c.query)
      case _ => None
    }
    found.map { case (output, query) =>
      Write(output, query, metrics(qe), qe.sparkSession.sessionState.newHadoopConf(), qe.sparkSession,
        Sources.of(query), ModelCalls.of(query))
    }
  }

  private def formatName(name: String): String = name.toLowerCase.stripSuffix("fileformat").stripSuffix("relationprovider") match {
    case "" => name
    case n => n
  }

  private def tableLocation(spark: SparkSession, table: CatalogTable): Option[String] =
    table.storage.locationUri.map(_.toString).orElse(
      Try(spark.sessionState.catalog.getTableMetadata(table.identifier).location.toString).toOption)

  /**
   * Rows, bytes and files written, from the write's own SQL metrics. A write whose query reads
   * a cached table runs under adaptive execution: the write node is in its final plan.
   */
  private def metrics(qe: QueryExecution): Map[String, Long] =
    Try(finalPlan(qe.executedPlan).collectFirst {
      case d: DataWritingCommandExec => d.cmd.metrics.map { case (k, m) => k -> m.value }
      case p if p.nodeName.endsWith("Exec") && p.metrics.contains("numOutputRows") && p.nodeName.contains("Write") =>
        p.metrics.map { case (k, m) => k -> m.value }
    }.getOrElse(Map.empty[String, Long])).getOrElse(Map.empty)

  private def finalPlan(plan: SparkPlan): SparkPlan = plan match {
    case adaptive: AdaptiveSparkPlanExec => finalPlan(adaptive.executedPlan)
    case other => other
  }
}

object Plans {
  /** Every node of PLAN, also those of subqueries in its expressions. */
  def nodes(plan: LogicalPlan): Seq[LogicalPlan] = plan.collectWithSubqueries { case node => node }
}

object Sources {
  def of(query: LogicalPlan): Seq[Source] = {
    val found = scala.collection.mutable.LinkedHashMap[String, Source]()
    def add(s: Source): Unit = found.getOrElseUpdate(s.table.getOrElse("") + "|" + s.roots.mkString(","), s)
    Plans.nodes(query).foreach {
      // Fields, not the extractor: Spark 4's LogicalRelation has one more than Spark 3.5's.
      case rel: LogicalRelation =>
        val table = rel.catalogTable
        rel.relation match {
          case fs: HadoopFsRelation =>
            add(Source(fs.location.rootPaths.map(_.toString), table.map(_.identifier.unquotedString),
              fs.fileFormat.toString.toLowerCase, Some(fs.location)))
          case other =>
            add(Source(Nil, table.map(_.identifier.unquotedString).orElse(Some(other.toString)), other.getClass.getSimpleName, None))
        }
      case h: HiveTableRelation =>
        add(Source(h.tableMeta.storage.locationUri.map(_.toString).toSeq, Some(h.tableMeta.identifier.unquotedString),
          h.tableMeta.provider.getOrElse("hive"), None))
      case r: DataSourceV2Relation =>
        val props = Try(r.table.properties()).map(p => scala.collection.JavaConverters.mapAsScalaMap(p).toMap).getOrElse(Map.empty)
        add(Source(props.get("location").toSeq, Some(r.table.name()), props.getOrElse("provider", "v2"), None,
          props.get("version")))
      case _ =>
    }
    found.values.toSeq
  }
}

/** The model functions (and other Python functions) a query called, as analysed. */
object ModelCalls {
  def of(query: LogicalPlan): Seq[JValue] = {
    val found = scala.collection.mutable.LinkedHashMap[String, JValue]()
    Plans.nodes(query).foreach { node =>
      node.expressions.foreach(_.foreach {
        case n: NativeModelCall =>
          found.getOrElseUpdate(s"native:${n.registration}:${n.functionName}", describe(n.functionName,
            Functions.registration(n.registration), "native Spark SQL"))
        case p: PythonUDF =>
          val reg = Functions.registrationOf(p.func)
          found.getOrElseUpdate(s"python:${reg.map(_.id).getOrElse(p.name)}", describe(p.name, reg, "Python workers"))
        case _ =>
      })
    }
    found.values.toSeq
  }

  private def describe(name: String, reg: Option[Registration], runs: String): JValue = {
    val about = reg.map(_.about).getOrElse(Map.empty)
    ("name" -> name) ~ ("model_uri" -> about.get("model_uri")) ~ ("version" -> about.get("version")) ~
      ("registered_model" -> about.get("registered_model")) ~ ("run_id" -> about.get("run_id")) ~
      ("model_id" -> about.get("model_id")) ~ ("runs" -> runs) ~ ("model" -> reg.isDefined) ~
      ("registered" -> about.get("registered"))
  }
}

/**
 * Makes and writes the records, one at a time on a thread of its own: the file listings for
 * the digests and the MLflow / OpenLineage step never hold up Spark's listener bus.
 */
object Recorder {
  private val MaxRecords = 200  // per folder: an append-only folder keeps its latest writes
  private val EmitTimeoutMs = 300000L
  private val lock = new Object
  private var pending = 0
  private lazy val pool = Executors.newSingleThreadExecutor(new ThreadFactory {
    def newThread(r: Runnable): Thread = { val t = new Thread(r, "pyshim-lineage"); t.setDaemon(true); t }
  })
  private lazy val exitHook: Unit =
    Runtime.getRuntime.addShutdownHook(new Thread(() => { Lineage.flush(60000L); () }, "pyshim-lineage-exit"))

  def submit(write: Write): Unit = {
    exitHook
    lock.synchronized(pending += 1)
    pool.execute(() => try record(write) catch {
      case NonFatal(e) => Lineage.warn(s"could not record the write to ${write.output.path.orElse(write.output.table).getOrElse("?")}: $e")
    } finally lock.synchronized { pending -= 1; lock.notifyAll() })
  }

  def awaitIdle(timeoutMs: Long): Boolean = lock.synchronized {
    val deadline = System.currentTimeMillis() + timeoutMs
    while (pending > 0 && System.currentTimeMillis() < deadline) lock.wait(math.max(1L, deadline - System.currentTimeMillis()))
    pending == 0
  }

  private def record(write: Write): Unit = {
    val path = write.output.path.orElse(write.output.table.flatMap(t => tablePath(write.session, t)))
    val outputDigest = path.flatMap(p => Try(Digest.ofRoots(Seq(p), write.conf)).toOption)
    val base = ("pyshim_lineage" -> 1) ~ ("written_at" -> Instant.now().toString) ~
      ("job" -> job) ~ ("notebook" -> notebook) ~
      ("spark" -> (("app_id" -> write.session.sparkContext.applicationId) ~ ("version" -> write.session.version))) ~
      ("output" -> output(write, path, outputDigest)) ~
      ("inputs" -> JArray(write.sources.map(input(_, write.conf)).toList)) ~
      ("functions" -> JArray(write.functions.toList))
    val record = if (emitting) base merge emit(base) else base
    path.foreach(p => append(new Path(p, Lineage.FileName), record, write.output.mode == "Overwrite", write.conf))
  }

  private def tablePath(spark: SparkSession, table: String): Option[String] =
    Try(spark.sessionState.catalog.getTableMetadata(spark.sessionState.sqlParser.parseTableIdentifier(table))
      .location.toString).toOption

  private def output(write: Write, path: Option[String], digest: Option[Digest.Listing]): JValue = {
    val m = write.metrics
    ("path" -> path) ~ ("table" -> write.output.table) ~ ("format" -> write.output.format) ~
      ("mode" -> write.output.mode) ~ ("rows" -> m.get("numOutputRows")) ~ ("bytes" -> m.get("numOutputBytes")) ~
      ("files" -> m.get("numFiles")) ~ ("digest" -> digest.map(_.digest))
  }

  private def input(source: Source, conf: Configuration): JValue = {
    val listing = Try(source.index match {
      case Some(index: PartitioningAwareFileIndex) => Some(Digest.of(source.roots, index.allFiles()))
      case _ if source.roots.nonEmpty => Some(Digest.ofRoots(source.roots, conf))
      case _ => None
    }).toOption.flatten
    val digest = listing.map(_.digest).orElse(source.version.map(v => Digest.hex(s"${source.table.getOrElse("")}@$v")))
    ("path" -> (if (source.roots.size == 1) Some(source.roots.head) else None)) ~
      ("paths" -> (if (source.roots.size > 1) Some(source.roots.toList) else None)) ~
      ("table" -> source.table) ~ ("format" -> source.format) ~ ("version" -> source.version) ~
      ("digest" -> digest) ~ ("files" -> listing.map(_.files)) ~ ("bytes" -> listing.map(_.bytes))
  }

  private def job: JValue = sys.env.get("PYSHIM_JOB_RUN_ID").filter(_.nonEmpty) match {
    case Some(run) => ("run_id" -> run) ~ ("name" -> sys.env.get("PYSHIM_JOB_NAME")) ~
      ("tracking_uri" -> sys.env.get("MLFLOW_TRACKING_URI"))
    case None => JNothing
  }

  private def notebook: Option[String] = sys.env.get("PYSHIM_JOB_NAME").orElse(sys.env.get("JPY_SESSION_NAME")).filter(_.nonEmpty)

  /** In a job, or with an OpenLineage transport configured, Python logs the record (pyshim/lineage/emit.py). */
  def emitting: Boolean = sys.env.get("PYSHIM_JOB_RUN_ID").exists(_.nonEmpty) || OpenLineage.configured

  /** Runs the emit step; what it answers (the job run's parameters, or what failed) is added to the record. */
  private def emit(record: JValue): JValue = {
    val log = File.createTempFile("pyshim-lineage-emit-", ".log")
    try {
      val builder = new ProcessBuilder(python, "-m", "pyshim.lineage.emit")
      builder.redirectError(ProcessBuilder.Redirect.to(log))
      val process = builder.start()
      process.getOutputStream.write(compact(render(record)).getBytes(StandardCharsets.UTF_8))
      process.getOutputStream.close()
      val answer = new String(process.getInputStream.readAllBytes(), StandardCharsets.UTF_8)
      if (!process.waitFor(EmitTimeoutMs, TimeUnit.MILLISECONDS)) {
        process.destroyForcibly()
        return "emit_error" -> s"$python -m pyshim.lineage.emit did not finish in ${EmitTimeoutMs / 1000} s"
      }
      if (process.exitValue() == 0) Try(parse(answer)).getOrElse(JNothing)
      else {
        val tail = new String(java.nio.file.Files.readAllBytes(log.toPath), StandardCharsets.UTF_8).trim.split("\n").takeRight(3).mkString(" | ")
        Lineage.warn(s"$python -m pyshim.lineage.emit failed: $tail")
        "emit_error" -> tail
      }
    } finally log.delete()
  }

  private def python: String = sys.env.get("PYSHIM_PYTHON")
    .orElse(SparkSession.getDefaultSession.flatMap(_.sparkContext.getConf.getOption("spark.pyshim.python")))
    .orElse(sys.env.get("PYSPARK_PYTHON")).getOrElse("python3")

  /** The folder's file gets this record appended (a fresh list on overwrite): written beside, then renamed. */
  private def append(file: Path, record: JValue, overwrite: Boolean, conf: Configuration): Unit = {
    val fs = file.getFileSystem(conf)
    val earlier = if (overwrite) Nil else readText(file, conf).toList.flatMap(t => Try(parse(t) \ "writes").toOption).flatMap {
      case JArray(items) => items
      case _ => Nil
    }
    val all = (nestedInto(earlier, record) :+ withNested(earlier, record)).takeRight(MaxRecords)
    val text = pretty(render(("pyshim_lineage" -> 1) ~ ("writes" -> JArray(all))))
    val staged = new Path(file.getParent, s"_pyshim_lineage.${java.util.UUID.randomUUID()}.tmp")
    val out = fs.create(staged, true)
    try out.write(text.getBytes(StandardCharsets.UTF_8)) finally out.close()
    fs.delete(file, false)
    if (!fs.rename(staged, file)) { fs.delete(staged, false); throw new java.io.IOException(s"cannot rename $staged to $file") }
  }

  /**
   * CREATE TABLE AS SELECT (and saveAsTable of a new table) runs its insert as a query of its
   * own, which Spark reports first, with the rows written but no table name; the CTAS then
   * has the name and no metrics. The two become one record: the insert's figures, the table's name.
   */
  private def nested(earlier: List[JValue], record: JValue): Option[JValue] = (earlier.lastOption, record \ "output") match {
    case (Some(last), out: JObject) if (out \ "rows") == JNothing && (out \ "table") != JNothing &&
        (last \ "output" \ "table") == JNothing && (last \ "output" \ "path") == (out \ "path") => Some(last)
    case _ => None
  }

  private def nestedInto(earlier: List[JValue], record: JValue): List[JValue] =
    if (nested(earlier, record).isDefined) earlier.init else earlier

  private def withNested(earlier: List[JValue], record: JValue): JValue = nested(earlier, record) match {
    case Some(last) =>
      val figures: JValue = JObject("output" -> JObject(
        "rows" -> (last \ "output" \ "rows"), "bytes" -> (last \ "output" \ "bytes"), "files" -> (last \ "output" \ "files")))
      record merge figures
    case None => record
  }

  def readText(file: Path, conf: Configuration): Option[String] = Try {
    val fs = file.getFileSystem(conf)
    val in = fs.open(file)
    try new String(in.readAllBytes(), StandardCharsets.UTF_8) finally in.close()
  }.toOption
}

object OpenLineage {
  /** openlineage-python's own settings: a URL, a config file, or transport variables (OPENLINEAGE__TRANSPORT__TYPE=file). */
  def configured: Boolean = !sys.env.get("OPENLINEAGE_DISABLED").exists(_.trim.equalsIgnoreCase("true")) &&
    sys.env.keys.exists(k => k == "OPENLINEAGE_URL" || k == "OPENLINEAGE_CONFIG" || k.startsWith("OPENLINEAGE__TRANSPORT"))
}

/**
 * A digest of data's content as Spark sees it: the data files (names relative to their root,
 * sizes, modification times; files and folders starting with `_` or `.` are not data), not the
 * query plan. 32 hex digits: MLflow keeps dataset digests of up to 36 characters.
 */
object Digest {
  final case class Listing(digest: String, files: Long, bytes: Long)

  def of(roots: Seq[String], files: Seq[FileStatus]): Listing = {
    val rootPaths = roots.map(r => new Path(r).toUri.getPath.stripSuffix("/"))
    val entries = files.map { f =>
      val full = f.getPath.toUri.getPath
      val relative = rootPaths.find(r => full == r || full.startsWith(r + "/"))
        .map(r => if (full == r) f.getPath.getName else full.substring(r.length + 1)).getOrElse(full)
      s"$relative\t${f.getLen}\t${f.getModificationTime}"
    }.sorted
    Listing(hex(entries.mkString("\n")), files.size.toLong, files.map(_.getLen).sum)
  }

  /** List ROOTS now (recursively): for outputs, and inputs whose index keeps no listing. */
  def ofRoots(roots: Seq[String], conf: Configuration): Listing = {
    val files = roots.flatMap { root =>
      val path = new Path(root)
      val fs = path.getFileSystem(conf)
      val top = fs.getFileStatus(path)
      if (top.isFile) Seq(top) else {
        val it = fs.listFiles(path, true)
        val rootPath = fs.makeQualified(path).toUri.getPath.stripSuffix("/")
        Iterator.continually(it).takeWhile(_.hasNext).map(_.next()).filter { f =>
          val rel = f.getPath.toUri.getPath.stripPrefix(rootPath).split("/").filter(_.nonEmpty)
          !rel.exists(part => part.startsWith("_") || part.startsWith("."))
        }.toSeq
      }
    }
    of(roots.map(r => Try(new Path(r).getFileSystem(conf).makeQualified(new Path(r)).toString).getOrElse(r)), files)
  }

  def hex(text: String): String =
    MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)).take(16).map("%02x".format(_)).mkString
}
