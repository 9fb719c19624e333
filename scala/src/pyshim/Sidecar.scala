package pyshim

import java.io.File
import java.net.InetAddress
import java.nio.charset.StandardCharsets
import java.nio.file.Files
import java.security.SecureRandom

import scala.concurrent.Await
import scala.concurrent.duration._
import scala.util.{Failure, Success, Try}
import scala.util.control.NonFatal

import org.apache.spark.sql.SparkSession
import py4j.ClientServer

/**
 * The Python process that shares this kernel's SparkSession. Started with the kernel (see
 * WarmStart) or on first use, kept as long as the kernel (its Python UDFs report
 * accumulators to it), restarted when it died, and replaying the models it had registered.
 * It ends with the JVM: a shutdown hook destroys it, and it exits by itself when its
 * parent is gone.
 */
object Sidecar {
  private val StartTimeoutMs = 120000L
  private val InterruptAnswerWaitMs = 5000L
  private var gateway: ClientServer = _
  @volatile private var process: Process = _ // read without the lock by the SIGINT handler
  private var logFile: File = _
  private val registrations = new java.util.LinkedHashMap[String, String]()

  // pyshim's own Scala kernel is itself the Python side (attachInProcess): no process to start.
  @volatile private var inProcessPid = -1L

  def python: String = sys.env.getOrElse("PYSHIM_PYTHON", sys.env.getOrElse("PYSPARK_PYTHON", "python3"))
  def inProcess: Boolean = inProcessPid > 0
  def isAlive: Boolean = inProcess || synchronized { process != null && process.isAlive }
  def pid: Long = if (inProcessPid > 0) inProcessPid else Option(process).map(_.pid()).getOrElse(-1L)

  /**
   * The Python process that drives this JVM (pyshim's Scala kernel) serves the Bridge itself,
   * between the polls of its running cell: requests of Scala code go to it, never to a sidecar.
   */
  def attachInProcess(pid: Long): Unit = {
    inProcessPid = pid
    Bridge.ready(pid)
  }
  def gatewayPort: Int = synchronized { if (gateway == null) -1 else gateway.getJavaServer.getListeningPort }

  /** Make sure a live sidecar exists; returns a one-line notice when it had to be restarted. */
  def ensure(spark: SparkSession): Option[String] = synchronized {
    if (isAlive) return None
    val previous = Option(process)
    previous.foreach(_ => Bridge.failAll("the Python sidecar stopped"))
    start(spark)
    previous.map { old =>
      val names = replayRegistrations(spark)
      val models = if (names.isEmpty) "" else s" and re-registered ${names.mkString(", ")}"
      s"pyshim: the Python sidecar had stopped (exit code ${old.exitValue}); restarted it$models."
    }
  }

  /** Run an operation in the sidecar and wait for its JSON answer. */
  def call(spark: SparkSession, op: String, payload: String, sink: OutputSink,
           notice: String => Unit): String = {
    ensure(spark).foreach(notice)
    Interrupts.install()
    val request = Bridge.submit(op, payload)
    // The output is written here, on the cell's thread: Toree sends text written by other
    // threads (py4j's) to the kernel's log instead of the cell, unless they descend from a
    // cell's thread, which the gateway's threads do not when the warm start made them.
    val write: ((String, String)) => Unit = {
      case (stream @ ("stdout" | "stderr"), text) => sink.write(stream, text)
      case ("pyshim_phase", content) => Progress.current.foreach(_.phase(Replies.phaseOf(content)))
      case (msgType, content) => sink.message(msgType, content)
    }
    def writeQueued(): Unit = Iterator.continually(request.output.poll()).takeWhile(_ != null).foreach(write)
    // The cell's thread is not stopped (CellThreads) while Python may still answer an interrupt.
    CellThreads.answering(InterruptAnswerWaitMs + 1000L)(awaitAnswer(request, write, () => writeQueued()))
    writeQueued()
    request.result.future.value.get match {
      case Success(json) => json
      case Failure(err) => throw err
    }
  }

  /**
   * Until `request` is answered, its output written as it comes. Ctrl-C also interrupts this
   * thread. Python got the same Ctrl-C and answers with its KeyboardInterrupt and the user's
   * line, so that answer is awaited a while; past that (Python busy in a Spark call) the cell
   * ends with "interrupted".
   */
  private def awaitAnswer(request: Request, write: ((String, String)) => Unit, writeQueued: () => Unit): Unit = {
    var interruptedAt = 0L
    while (!request.result.isCompleted) {
      try Option(request.output.poll(200, MILLISECONDS)).foreach(write)
      catch {
        case _: InterruptedException => if (interruptedAt == 0) interruptedAt = System.currentTimeMillis()
      }
      if (interruptedAt > 0 && System.currentTimeMillis() - interruptedAt > InterruptAnswerWaitMs)
        throw new InterruptedException("interrupted")
      writeQueued()
      if (!isAlive && !request.result.isCompleted) {
        Bridge.failAll(s"the Python sidecar stopped (exit code ${Try(process.exitValue).getOrElse("?")}) " +
          "while running this; it restarts on next use")
      }
    }
  }

  /**
   * A short request (completion, help) that never waits behind a cell: only a live sidecar
   * that runs no cell gets it, and its answer is awaited `timeoutMs` at most. None otherwise,
   * and the front end gets an empty answer. Never starts a sidecar.
   */
  def quick(op: String, payload: String, timeoutMs: Long): Option[String] = {
    if (inProcessPid > 0) return None // the kernel's own Python answers Tab itself
    val running = process // no lock: start() holds it while a sidecar starts, up to two minutes
    if (running == null || !running.isAlive || !Bridge.isReady || Bridge.busyWithCell) return None
    val request = Bridge.submit(op, payload, quick = true)
    try Some(Await.result(request.result.future, timeoutMs.millis))
    catch {
      case NonFatal(_) => Bridge.withdraw(request); None
    }
  }

  /**
   * Kernel start (see WarmStart): start the sidecar, which then imports mlflow and starts
   * Spark's Python workers in the background. A failure stays silent here: the first
   * %%python or %register_model tries again and reports it.
   */
  def warmStart(spark: SparkSession): Unit = synchronized {
    if (process == null) Try(start(spark, warmUp = true)).failed.foreach { _ =>
      stop()
      process = null
    }
  }

  def remember(name: String, requestJson: String): Unit = synchronized { registrations.put(name, requestJson) }
  def registeredNames: Seq[String] = synchronized {
    import scala.collection.JavaConverters._
    registrations.keySet().asScala.toSeq
  }

  private def replayRegistrations(spark: SparkSession): Seq[String] = {
    import scala.collection.JavaConverters._
    val pending = registrations.asScala.toSeq
    pending.flatMap { case (name, json) =>
      Try(call(spark, "register", json, Sinks.discard, _ => ())).toOption.map(_ => name)
    }
  }

  private def start(spark: SparkSession, warmUp: Boolean = false): Unit = {
    Bridge.setSession(spark)
    val secret = ensureGateway()
    Bridge.resetReady()
    logFile = File.createTempFile("pyshim-sidecar-", ".log")
    logFile.deleteOnExit()
    val builder = new ProcessBuilder(python, "-m", "pyshim.bridge.sidecar")
    val env = builder.environment()
    env.put("PYSHIM_GATEWAY_PORT", gateway.getJavaServer.getListeningPort.toString)
    env.put("PYSHIM_GATEWAY_SECRET", secret) // environment, never argv: argv is world-readable
    env.put("PYSHIM_SIDECAR_LOG", logFile.getPath) // named in short errors: the full ones are there
    if (warmUp) env.put("PYSHIM_WARM_UP", "1")
    builder.redirectErrorStream(true)
    builder.redirectOutput(ProcessBuilder.Redirect.appendTo(logFile))
    process = builder.start()
    val ready = Bridge.awaitReady(StartTimeoutMs, () => process.isAlive)
    if (ready < 0) {
      val status = if (process.isAlive) { process.destroyForcibly(); "did not answer in 120 s" }
                   else s"exited with code ${process.exitValue}"
      throw new PyshimException(s"the Python sidecar ($python -m pyshim.bridge.sidecar) $status. " +
        s"Its last output:\n${logTail(12)}\nCheck that pyshim is installed in that python " +
        "(PYSHIM_PYTHON / PYSPARK_PYTHON), for example with `make test` or `pip install -e .`.")
    }
  }

  private var secretValue: String = _

  private def ensureGateway(): String = {
    if (gateway == null) {
      secretValue = newSecret()
      // PySpark's pinned-thread mode: each Python thread calls Java on a JVM thread of its
      // own, so the job tag the sidecar sets for a cell (and copies into the threads that
      // cell starts) stays with that Python thread's Spark jobs.
      gateway = new ClientServer.ClientServerBuilder(Bridge)
        .javaPort(0)
        .javaAddress(InetAddress.getLoopbackAddress)
        .authToken(secretValue)
        .autoStartJavaServer(false)
        .build()
      gateway.startServer(true)
      Interrupts.install()
      // A model call from Scala SQL also revives a dead sidecar (its UDFs need it alive).
      // Its notice goes to the running cell also from a %%sql future or a py4j thread.
      Functions.beforeCall = () => ensure(Bridge.sparkSession()).foreach(CellOutput.noticeLine)
      Runtime.getRuntime.addShutdownHook(new Thread(() => stop()))
    }
    secretValue
  }

  private def newSecret(): String = {
    val bytes = new Array[Byte](32)
    new SecureRandom().nextBytes(bytes)
    bytes.map("%02x".format(_)).mkString
  }

  def logTail(lines: Int): String = Try {
    val all = new String(Files.readAllBytes(logFile.toPath), StandardCharsets.UTF_8).split("\n")
    all.takeRight(lines).mkString("\n")
  }.getOrElse("(no output)")

  /** Send SIGINT to the sidecar: Python raises KeyboardInterrupt and PySpark cancels its jobs. */
  def interrupt(): Unit = {
    val p = pid
    if (Bridge.interruptAll() && p > 0 && inProcessPid < 0) Try(new ProcessBuilder("kill", "-INT", p.toString).start().waitFor())
  }

  /** For tests and restarts of the whole extension: end the process (not the gateway). */
  def stop(): Unit = synchronized {
    if (process != null && process.isAlive) {
      process.destroy()
      if (!process.waitFor(3, SECONDS)) process.destroyForcibly()
    }
  }
}

object Interrupts {
  import sun.misc.{Signal, SignalHandler}
  private val INT = new Signal("INT")
  @volatile private var chained: SignalHandler = _

  // Toree shuts the kernel down on a second SIGINT within 3 s of the first: a user who
  // pressed the interrupt button twice would lose the kernel and its state. Toree's handler
  // returns once the cell is interrupted (a few seconds): the window also counts from then.
  private val ToreeShutdownWindowMs = 3000L + 500L
  @volatile private var lastChained = 0L

  private val forward: SignalHandler = new SignalHandler {
    override def handle(sig: Signal): Unit = {
      Progress.cancelRunning()
      Sidecar.interrupt()
      val now = System.currentTimeMillis()
      if (now - lastChained > ToreeShutdownWindowMs) {
        lastChained = now
        try Option(chained).foreach(_.handle(sig)) finally lastChained = System.currentTimeMillis()
      } else System.err.println("pyshim: interrupted again within 3 s: the cell's jobs are cancelled; the kernel keeps running")
    }
  }

  /**
   * Put our handler in front of the current SIGINT handler (Toree's): cancel the running
   * cell's Spark jobs and forward to a running Python cell first. Called before every sidecar request, because Toree installs its own
   * handler late in its start, after the warm start may already have installed ours; a
   * one-time install was then silently replaced and Ctrl-C never reached Python. Also
   * called as every cell starts (Progress.during).
   */
  def install(): Unit = synchronized {
    val previous = Signal.handle(INT, forward)
    if ((previous ne forward) && (previous ne SignalHandler.SIG_DFL) && (previous ne SignalHandler.SIG_IGN)) chained = previous
  }
}

object Sinks {
  val discard: OutputSink = new OutputSink {
    def write(stream: String, text: String): Unit = ()
    def message(msgType: String, content: String): Unit = ()
  }

  /** Text to the streams; a display as its text/plain (where no front end shows rich output). */
  def streams(out: java.io.OutputStream, err: java.io.OutputStream): OutputSink = new OutputSink {
    def write(stream: String, text: String): Unit = CellOutput.current match {
      // In a cell, its relay sends the text every 50 ms and before the reply. A flush per
      // write would make each Python line an IOPub message of its own: under load the front
      // end reads slower than that, and ZeroMQ drops what passes the socket's high-water mark.
      case Some(cell) => (if (stream == "stderr") cell.err else cell.out).write(text.getBytes(StandardCharsets.UTF_8))
      case None =>
        val target = if (stream == "stderr" && err != null) err else out
        target.synchronized {
          target.write(text.getBytes(StandardCharsets.UTF_8))
          target.flush()
        }
    }

    def message(msgType: String, content: String): Unit =
      if (msgType == "display_data") Replies.plainText(content).foreach(text => write("stdout", text + "\n"))
  }
}
