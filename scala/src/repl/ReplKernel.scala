package pyshim.repl

import java.io.{OutputStream, PrintStream, PrintWriter, StringWriter}
import java.nio.charset.StandardCharsets.UTF_8
import java.util.concurrent.{LinkedBlockingQueue, TimeUnit}
import java.util.concurrent.atomic.AtomicLong

import scala.tools.nsc.interpreter.IMain
import scala.util.Try
import scala.util.control.NonFatal

import org.apache.spark.sql.SparkSession
import org.json4s._
import org.json4s.JsonDSL._
import org.json4s.jackson.JsonMethods.{compact, render}

import pyshim.{Assist, CellOutput, CellStream, CellThreads, Failures, Lineage, Progress, ThreadRouted, Words}

/**
 * The JVM half of pyshim's own Scala kernel (the Python half is pyshim/scala_kernel): Scala's
 * REPL (IMain) inside the Spark driver that pyspark started, driven over py4j.
 *
 * A cell runs on a thread of its own, in the thread group `pyshim-cells` (so what the threads
 * it starts print reaches the cell, as in Toree). Python starts it with `execute` and then
 * polls its events (`poll`): text, Jupyter messages (progress displays, kernel.display), the
 * value, and the end with its status, all in the order they happened, as JSON strings. The
 * Python side turns them into IOPub messages of the cell's execute_request. What a cell's
 * threads send after it ended (a background job's progress display) comes through `pollLate`.
 */
object ReplKernel {
  val CellGroup = new ThreadGroup("pyshim-cells")
  private val ids = new AtomicLong()
  private val LineageWaitMs = 120000L
  @volatile private var repl: ScalaRepl = _
  @volatile private var running: Option[CellRun] = None
  private val cellOut = new Forward(c => c.out)
  private val cellErr = new Forward(c => c.err)

  /**
   * Make the interpreter and bind `spark`, `sc`, `kernel`, with Toree's imports. `outDir` is
   * the REPL's class output folder, which the driver serves to executors
   * (spark.repl.class.outputDir, set before the SparkContext was made).
   */
  def start(spark: SparkSession, outDir: String): String = synchronized {
    if (repl == null) {
      // System.out of the cell's threads goes to the cell; of other threads to the kernel's log.
      val inCell = () => inCellGroup(Thread.currentThread().getThreadGroup)
      System.setOut(new PrintStream(new ThreadRouted(cellOut, CellOutput.logOut, inCell), true, "UTF-8"))
      System.setErr(new PrintStream(new ThreadRouted(cellErr, CellOutput.logErr, inCell), true, "UTF-8"))
      repl = new ScalaRepl(outDir)
      KernelApi.session = spark
      repl.bindings(spark)
    }
    repl.versionLine
  }

  private def inCellGroup(group: ThreadGroup): Boolean =
    group != null && (group eq CellGroup) || (group != null && group.getParent != null && inCellGroup(group.getParent))

  /** Start a Scala cell; its id is what `poll` and `interrupt` take. */
  def execute(code: String, silent: Boolean): Long = start(code, silent)(_ => repl.interpret(code, silent))

  /**
   * A `%%python` cell, which runs in the kernel's IPython: a cell thread holds its job tag and
   * progress display while Python runs it. Its first event is the tag (Python puts it on the
   * threads that run the cell); `finishPython` ends it. An interrupt only cancels its jobs.
   */
  def executePython(): Long = start("%%python", silent = false, python = true) { run =>
    run.put(event("tag", "tag" -> Progress.current.map(_.tag).getOrElse("")))
    var done = false
    while (!done) {
      try { run.finished.await(); done = true }
      catch { case _: InterruptedException => } // the cell ends when Python is done with it
    }
    CellEnd.ok(None)
  }

  def finishPython(id: Long): Unit = Option(finished.get(id)).foreach(_.finished.countDown())

  /**
   * Start a magic of pyshim's (Commands) or Toree's (Magics) on a cell thread, as a Scala
   * cell runs: its text, progress and phases come as the cell's events, and a Python request
   * it makes (%register_model) is served by the Python side while it polls.
   */
  def executeMagic(name: String, args: String, silent: Boolean): Long =
    start(s"%$name $args", silent)(_ => Magics.run(name, args, repl))

  private def start(code: String, silent: Boolean, python: Boolean = false)(body: CellRun => CellEnd): Long = {
    val run = new CellRun(ids.incrementAndGet(), code, silent, python)
    // An error that runCell does not catch (a fatal one) still ends the cell: Python waits for its end.
    val thread = new Thread(CellGroup, () => try runCell(run, body(run)) finally run.finish(Seq(CellEnd.lost.doneEvent)),
      s"pyshim-cell-${run.id}")
    thread.setDaemon(true)
    run.thread = thread
    finished.put(run.id, run)
    thread.start()
    run.id
  }

  /**
   * Text and messages of cells that have ended, sent by the threads they started (a
   * `%%python` cell's background job updates that cell's progress display): each as
   * {"cell": id, "event": the event's JSON}, for Python to send with that cell's request as
   * parent. Waits up to timeoutMs for the first.
   */
  def pollLate(timeoutMs: Long): java.util.List[String] = {
    val out = new java.util.ArrayList[String]()
    val first = late.poll(timeoutMs, TimeUnit.MILLISECONDS)
    if (first != null) { out.add(first); late.drainTo(out) }
    out
  }

  private val late = new LinkedBlockingQueue[String]()

  private[repl] def sendLate(cell: Long, event: String): Unit =
    late.put(compact(render(("cell" -> cell) ~ ("event" -> event))))

  /** The cell's events since the last poll (waits up to timeoutMs for the first). */
  def poll(id: Long, timeoutMs: Long): java.util.List[String] = {
    val out = new java.util.ArrayList[String]()
    Option(finished.get(id)) match {
      case Some(run) =>
        val first = run.events.poll(timeoutMs, TimeUnit.MILLISECONDS)
        if (first != null) { out.add(first); run.events.drainTo(out) }
        if (run.over && run.events.isEmpty) finished.remove(id)
      case None => out.add(event("done", "status" -> "error", "ename" -> "pyshim", "evalue" -> s"no cell $id"))
    }
    out
  }

  private val finished = new java.util.concurrent.ConcurrentHashMap[Long, CellRun]()

  /**
   * Ctrl-C: cancel the running cell's Spark jobs and end its own code (pyshim.CellThreads:
   * interrupted, then stopped after a second). A `%%python` cell's Python code is Python's to
   * stop. Code that the JVM cannot stop is left running in the background and its cell ends
   * with CellThreads' one line, which names the way out (a restart).
   */
  def interrupt(): String = running match {
    case Some(run) if run.python => Progress.cancelRunning(); s"interrupted cell ${run.id}"
    case Some(run) =>
      awaitUserCode(run.thread)
      CellThreads.interrupt(InterruptGraceMs, () => Progress.cancelRunning())
        .filterNot(_.ended).foreach(given => giveUp(run, given.message))
      s"interrupted cell ${run.id}"
    case None => "no cell is running"
  }

  private val InterruptGraceMs = 1000L
  private val CompileWaitMs = 10000L

  /**
   * An interrupt waits while the cell's thread is still in the compiler: the compiler reads
   * classes through NIO channels, which an interrupt closes, and a thread stopped there
   * leaves its symbol table broken (every later cell: "illegal cyclic reference"). The
   * cell's own code runs in the REPL's `$line` classes.
   */
  private def awaitUserCode(thread: Thread): Unit = {
    val deadline = System.currentTimeMillis() + CompileWaitMs
    def compiling = {
      val frames = thread.getStackTrace
      !frames.exists(_.getClassName.startsWith("$line")) && frames.exists(_.getClassName.startsWith("scala.tools.nsc"))
    }
    while (thread.isAlive && compiling && System.currentTimeMillis() < deadline) Thread.sleep(20)
  }

  private def giveUp(run: CellRun, message: String): Unit = {
    running = None
    run.finish(Seq(CellEnd.interrupted(message).doneEvent))
  }

  /** Tab in a Scala, %%sql or magic cell (pyshim.Assist; %%python cells never come here). */
  def complete(cell: String, cursor: Int): String = {
    val (start, matches) = Assist.complete(cell, cursor, (code, at) =>
      Option(repl).map(r => r.complete(code, at)).map { case (s, m) => (s, m.toList) }.getOrElse((at, Nil)))
    compact(render(("cursor" -> start) ~ ("matches" -> matches)))
  }

  /** Shift-Tab: the inspect_reply content as JSON. */
  def inspect(cell: String, cursor: Int, detailLevel: Int): String =
    Assist.inspect(cell, cursor, detailLevel, (code, start, end) => Option(repl).flatMap(_.typeAt(code, start, end)))

  /** is_complete: [status, indent]; an incomplete line's indent carries over to the next. */
  def isComplete(cell: String): Array[String] = {
    val (status, indent) = Assist.isComplete(cell, code => Option(repl).map(_.isComplete(code)).getOrElse("unknown") match {
      case "incomplete" => ("incomplete", Words.indent(code.split("\n", -1).last))
      case other => (other, "")
    })
    Array(status, indent)
  }

  private def runCell(run: CellRun, body: => CellEnd): Unit = {
    val output = new CellOutput(new CellStream(t => run.put(event("stream", "name" -> "stdout", "text" -> t))),
      new CellStream(t => run.put(event("stream", "name" -> "stderr", "text" -> t))),
      Some(data => run.put(compact(render(("type" -> "result") ~ ("data" -> data))))),
      (msgType, content) => run.put(compact(render(("type" -> "message") ~ ("msg_type" -> msgType) ~
        ("content" -> content)))))
    CellOutput.attach(output)
    running = Some(run)
    val threads = new CellThreads.Cell
    val ran = try {
      CellOutput.run(Some(output)) {
        Progress.during(Some(output)) {
          val result = Console.withOut(output.printStreams._1) {
            Console.withErr(output.printStreams._1) {
              def tagged = Progress.current.fold(body)(_.tagging(body))
              if (run.python) tagged else CellThreads.run(threads)(tagged)
            }
          }
          output.printStreams._1.flush()
          if (Lineage.isInstalled) Lineage.flush(LineageWaitMs)
          result
        }
      }
    } catch {
      // Not fatal here (scala's NonFatal leaves it out): the cell ends with it, and its end is sent.
      case e: InterruptedException => CellEnd.error(e)
      case NonFatal(e) => CellEnd.error(e)
      case _: ThreadDeath => CellEnd.error(new InterruptedException("interrupted"))
    } finally {
      running = None
    }
    val end = threads.interruption.filter(_ => ran.fromInterrupt).fold(ran)(CellEnd.interrupted)
    val value = end.value.filterNot(_ => run.silent).map(v => compact(render(("type" -> "result") ~ ("data" -> v))))
    run.finish(value.toSeq :+ end.doneEvent) // a no-op when interrupt() gave the cell up: it has ended already
  }

  private[repl] def event(kind: String, fields: (String, String)*): String =
    compact(render(JObject(("type" -> JString(kind)) :: fields.map { case (k, v) => k -> (JString(v): JValue) }.toList)))

  /** The running cell's stream (switches with each cell; text of no cell goes to the log). */
  private final class Forward(pick: CellOutput => OutputStream) extends OutputStream {
    private def target: OutputStream = CellOutput.current.map(pick).getOrElse(CellOutput.logOut)
    override def write(b: Int): Unit = target.write(b)
    override def write(b: Array[Byte], off: Int, len: Int): Unit = target.write(b, off, len)
    override def flush(): Unit = target.flush()
  }
}

final class CellRun(val id: Long, val code: String, val silent: Boolean, val python: Boolean = false) {
  val events = new LinkedBlockingQueue[String]()
  val finished = new java.util.concurrent.CountDownLatch(1)
  @volatile var thread: Thread = _
  @volatile private var ended = false

  def over: Boolean = ended

  /** An event of the cell; once it has ended, one of its threads' goes out as a late event. */
  def put(event: String): Unit = synchronized {
    if (ended) ReplKernel.sendLate(id, event) else events.put(event)
  }

  /** The cell's last events (its value, its end), unless it has ended already. */
  def finish(last: Seq[String]): Unit = synchronized {
    if (!ended) { last.foreach(e => events.put(e)); ended = true }
  }
}

/** How a cell ended: its value (a MIME bundle) or its error, as the reply will say. */
final case class CellEnd(value: Option[Map[String, String]], error: Option[(String, String, List[String])]) {
  /** An error that an interrupt made (the cell's thread interrupted or stopped, its job cancelled). */
  def fromInterrupt: Boolean = error.exists { case (ename, evalue, lines) =>
    // A stop inside the REPL's own machinery ends the line with its stack as "compile" output.
    CellThreads.fromInterrupt(s"$ename: $evalue") || lines.exists(l => CellThreads.fromInterrupt(l))
  }

  def doneEvent: String = error match {
    case None => compact(render(("type" -> "done") ~ ("status" -> "ok")))
    case Some((ename, evalue, lines)) =>
      compact(render(("type" -> "done") ~ ("status" -> "error") ~ ("ename" -> ename) ~ ("evalue" -> evalue) ~
        ("traceback" -> lines)))
  }
}

object CellEnd {
  def ok(value: Option[Map[String, String]]): CellEnd = CellEnd(value, None)

  /** A cell whose thread ended with an error that nothing caught (its stack is in the kernel's log). */
  val lost: CellEnd = {
    val line = "the cell's thread ended without an answer; its error is in the kernel's log"
    CellEnd(None, Some(("Error", line, List(line))))
  }

  /** An interrupted cell: CellThreads' one line (what was interrupted, after how long), no stack. */
  def interrupted(message: String): CellEnd = CellEnd(None, Some(("Interrupted", message, List(message))))

  def error(e: Throwable): CellEnd = {
    val text = s"${e.getClass.getName}: ${e.getMessage}\n${e.getStackTrace.take(40).mkString("\n")}" +
      Option(e.getCause).map(c => s"\nCaused by: ${c.getClass.getName}: ${c.getMessage}").getOrElse("")
    Failures.short(text) match {
      case Some(short) => CellEnd(None, Some((short.ename, short.evalue, short.lines)))
      case None =>
        val name = e.getClass.getName
        val message = Option(e.getMessage).getOrElse("")
        CellEnd(None, Some((name, message, s"$name: $message" :: userFrames(e))))
    }
  }

  /** The frames of the cell's own code and what it called, not the REPL's machinery under it. */
  private def userFrames(e: Throwable): List[String] =
    e.getStackTrace.toList.takeWhile(f => !f.getClassName.matches("""\$line\d+\.\$eval.*""") &&
      !f.getClassName.startsWith("scala.tools.nsc")).take(12).map { f =>
      if (f.getClassName.startsWith("$line")) s"  at <cell>:${f.getLineNumber}" else s"  at $f"
    }.distinct

  /** A compile error: the compiler's messages, without the REPL's indent; the first error is the value. */
  def compileError(messages: String): CellEnd = {
    val lines = messages.split("\n").toList.filter(_.trim.nonEmpty)
    val indent = if (lines.isEmpty) 0 else lines.map(_.takeWhile(_ == ' ').length).min
    val shown = lines.map(_.drop(indent))
    val first = shown.map(_.trim).find(_.startsWith("error:")).map(_.stripPrefix("error:").trim)
    CellEnd(None, Some(("Compile Error", first.getOrElse("the cell did not compile"), shown)))
  }
}

/**
 * Scala's interpreter with Toree's bindings. What differs between Scala 2.12 and 2.13 (the
 * interpreter's constructor, completion) is in ReplCompat, one file per Scala version
 * (scala-2.12/, scala-2.13/).
 */
final class ScalaRepl(outDir: String) {
  private val echo = new StringWriter()
  private val intp: IMain = ReplCompat.interpreter(outDir, new PrintWriter(echo, true))
  CompilerLock.install(intp)

  def versionLine: String =
    s"Scala ${scala.util.Properties.versionNumberString}, Spark ${org.apache.spark.SPARK_VERSION}, Java ${System.getProperty("java.version")}"

  def bindings(spark: SparkSession): Unit = {
    KernelApi.session = spark
    interpretQuietly(
      // @transient: closures of later cells capture these wrappers, and the session is not serializable.
      """@transient val spark = org.apache.spark.sql.SparkSession.active
        |@transient val sc = spark.sparkContext
        |@transient val sqlContext = spark.sqlContext
        |@transient val kernel = pyshim.repl.KernelApi
        |import spark.implicits._
        |import spark.sql
        |import org.apache.spark.sql.functions._""".stripMargin)
  }

  def interpretQuietly(code: String): Boolean = CompilerLock.holding {
    val ok = ReplCompat.quietly(intp)(ReplCompat.isSuccess(intp.interpret(code)))
    echo.getBuffer.setLength(0)
    ok
  }

  /**
   * Run a cell. The REPL's echo of definitions (`val x: Int = 1`) becomes the cell's text,
   * its last result (`res3`) the cell's value (text/plain: the value's toString, as Toree shows it).
   */
  // One cell runs at a time (the kernel runs them in order). The compiler's lock is let go of
  // while the cell's code runs (CompilerLock): a cell whose code could not be stopped must not
  // keep the next cells, or a Tab, out.
  def interpret(code: String, silent: Boolean): CellEnd = CompilerLock.holding {
    echo.getBuffer.setLength(0)
    val source = withOuterScope(code)
    val result = if (silent) ReplCompat.quietly(intp)(intp.interpret(source)) else intp.interpret(source)
    val text = echo.toString
    echo.getBuffer.setLength(0)
    if (ReplCompat.isSuccess(result)) {
      val shown = Display.prepare(text.split("\n").filterNot(_.contains("lastException")).mkString("\n"),
        name => Try(intp.valueOfTerm(name)).toOption.flatten)
      if (!silent) Seq(shown.definitions, shown.text).filter(_.nonEmpty).foreach(t => KernelApi.send(Map("text/plain" -> t)))
      CellEnd.ok(shown.value.map(Display.bundle))
    } else if (ReplCompat.isIncomplete(result)) {
      CellEnd.compileError(s"incomplete input: the cell ends inside an expression\n$text")
    } else {
      lastException() match {
        case Some(e) => CellEnd.error(e)
        case None => CellEnd.compileError(text)
      }
    }
  }

  /**
   * Run code and give the value of its last line (%%dataframe): the value, or the compiler's
   * or the exception's message.
   */
  def evaluate(code: String): Either[String, Any] = CompilerLock.holding {
    echo.getBuffer.setLength(0)
    val result = ReplCompat.quietly(intp)(intp.interpret(code))
    val text = echo.toString
    echo.getBuffer.setLength(0)
    if (!ReplCompat.isSuccess(result)) Left(lastException().map(e => s"${e.getClass.getName}: ${e.getMessage}").getOrElse(text.trim))
    else Try(intp.valueOfTerm(intp.mostRecentVar)).toOption.flatten.toRight("the last line has no value")
  }

  /** A jar for the cells (%AddJar): on the REPL's class path, for the next cells to use. */
  def addJar(jar: java.io.File): Unit = CompilerLock.holding(ReplCompat.addJar(intp, jar))

  private val DefinesClass = """(?s).*\bclass\s.*""".r

  /**
   * A case class of a cell is an inner class of the cell's wrapper; Spark's encoders make its
   * instances with that wrapper as outer object, which the REPL publishes only once the cell
   * has run. A cell that defines a class and uses it in a Dataset at once needs the wrapper
   * registered first (as Spark's docs say for notebooks: OuterScopes.addOuterScope(this)).
   * It goes on the cell's first line, so the compiler's line numbers stay the cell's.
   */
  private def withOuterScope(code: String): String = code match {
    case DefinesClass() => s"org.apache.spark.sql.catalyst.encoders.OuterScopes.addOuterScope(this); $code"
    case _ => code
  }

  /** The REPL binds `lastException` when a cell throws; one seen before is not this cell's. */
  private var seenException: Throwable = _

  private def lastException(): Option[Throwable] = Try(intp.valueOfTerm("lastException")).toOption.flatten.collect {
    case e: Throwable if e ne seenException => seenException = e; e
  }

  // Tab, Shift-Tab and is-complete come from a thread of their own, beside a running cell.
  def complete(code: String, cursor: Int): (Int, Seq[String]) = CompilerLock.holding(ReplCompat.complete(intp, code, cursor))

  def isComplete(code: String): String = CompilerLock.holding {
    if (code.trim.isEmpty) "complete" else ReplCompat.isComplete(intp, code)
  }

  /** Shift-Tab on Scala: the signatures or the type of the word at [start, end) (TypeAt, as in the Toree kernel). */
  def typeAt(code: String, start: Int, end: Int): Option[String] = CompilerLock.holding(TypeAt.describe(intp, code, start, end))
}
