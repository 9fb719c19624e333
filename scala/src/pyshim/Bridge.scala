package pyshim

import java.util.concurrent.{ConcurrentHashMap, LinkedBlockingDeque, LinkedBlockingQueue, TimeUnit}
import java.util.concurrent.atomic.AtomicLong

import scala.concurrent.Promise
import scala.util.control.NonFatal

import org.apache.spark.api.java.JavaSparkContext
import org.apache.spark.sql.{DataFrame, SparkSession}

/** Where the output of one Python request goes: the cell's streams and its other messages. */
trait OutputSink {
  def write(stream: String, text: String): Unit

  /** A Jupyter IOPub message other than text (display_data, update_display_data, clear_output), its content as JSON. */
  def message(msgType: String, content: String): Unit
}

/**
 * A request for the sidecar: an operation and a JSON payload; its output (stdout or stderr
 * and text, or a message type and its JSON content) queues here, in the order Python sent
 * it, until the thread that waits for the request writes it (see Sidecar.call).
 */
final class Request(val id: Long, val op: String, val payload: String, val jobTag: String = "", val quick: Boolean = false) {
  val result: Promise[String] = Promise[String]()
  val output = new LinkedBlockingQueue[(String, String)]()
  @volatile var interrupted = false
}

/**
 * The py4j entry point. The sidecar's main thread polls `take`, runs the request and calls
 * `complete`; output streams back through `write` while it runs. Polling (instead of py4j
 * callbacks) keeps user code on Python's main thread, where Ctrl-C (SIGINT) lands.
 */
object Bridge {
  @volatile private var session: SparkSession = _
  private val queue = new LinkedBlockingDeque[Request]()
  private val inFlight = new ConcurrentHashMap[Long, Request]()
  private val ids = new AtomicLong()
  @volatile private var readyPid: Long = -1L

  def setSession(spark: SparkSession): Unit = session = spark
  def sparkSession(): SparkSession = session
  def javaSparkContext(): JavaSparkContext = new JavaSparkContext(session.sparkContext)

  def submit(op: String, payload: String, quick: Boolean = false): Request = {
    // The running cell's job tag: the sidecar puts it on the Python thread that runs the request.
    val req = new Request(ids.incrementAndGet(), op, payload, Progress.current.map(_.tag).getOrElse(""), quick)
    inFlight.put(req.id, req)
    queue.put(req)
    req
  }

  /** Forget a request nobody waits for any more; Python's answer, if it comes, is dropped. */
  def withdraw(req: Request): Unit = {
    queue.remove(req)
    inFlight.remove(req.id)
  }

  /**
   * Called by Python: the next request as [id, op, payload, job tag], or null after timeoutMs.
   * Only the live sidecar (the pid that said `ready`) gets one. A killed sidecar's last
   * `take` still waits here on its py4j thread for up to timeoutMs; without this check it
   * could take the request meant for its successor (the replay of the registrations) and
   * lose it on the dead socket, and the cell would wait forever.
   */
  def take(pid: Long, timeoutMs: Long): Array[String] = {
    if (pid != readyPid) return null
    val req = queue.poll(timeoutMs, TimeUnit.MILLISECONDS)
    if (req == null) null
    else if (pid != readyPid) { queue.putFirst(req); null }
    else Array(req.id.toString, req.op, req.payload, req.jobTag)
  }

  /** Called by Python, on a py4j thread: Toree sends only its cell threads' output to the cell. */
  def write(id: Long, stream: String, text: String): Unit =
    Option(inFlight.get(id)).foreach(_.output.put(stream -> text))

  /** Called by Python, like `write`: a display() or a figure of the running cell. */
  def display(id: Long, msgType: String, content: String): Unit =
    Option(inFlight.get(id)).foreach(_.output.put(msgType -> content))

  def complete(id: Long, json: String): Unit =
    Option(inFlight.remove(id)).foreach(_.result.trySuccess(json))

  /** Fail everything pending: the process that would answer is gone. */
  def failAll(reason: String): Unit = {
    queue.clear()
    val it = inFlight.values().iterator()
    while (it.hasNext) it.next().result.tryFailure(new SidecarDied(reason))
    inFlight.clear()
  }

  def hasRunning: Boolean = !inFlight.isEmpty

  /** A cell's request (not a completion or help) is queued or running in Python. */
  def busyWithCell: Boolean = inFlight.values().stream().anyMatch(r => !r.quick)

  /** A sidecar said ready and takes requests. */
  def isReady: Boolean = readyPid >= 0

  /**
   * Ctrl-C: mark every request in flight as interrupted (Python asks before it runs user
   * code, so a signal that lands before its handler is set is not lost) and answer those not
   * taken yet, which never reach Python. True when one is running in Python.
   */
  def interruptAll(): Boolean = {
    val it = inFlight.values().iterator()
    while (it.hasNext) it.next().interrupted = true
    val waiting = new java.util.ArrayList[Request]()
    queue.drainTo(waiting)
    waiting.forEach { req =>
      complete(req.id, """{"status": "error", "ename": "KeyboardInterrupt", "evalue": "interrupted before it started", "traceback": ""}""")
    }
    hasRunning
  }

  /** Called by Python before it runs a request's user code. */
  def wasInterrupted(id: Long): Boolean = Option(inFlight.get(id)).exists(_.interrupted)

  def ready(pid: Long): Unit = synchronized { readyPid = pid; notifyAll() }
  def awaitReady(timeoutMs: Long, alive: () => Boolean): Long = synchronized {
    val deadline = System.currentTimeMillis() + timeoutMs
    while (readyPid < 0 && alive() && System.currentTimeMillis() < deadline) wait(100)
    readyPid
  }
  def resetReady(): Unit = synchronized { readyPid = -1L }

  /**
   * Called by Python: run a warm-up query (pyshim.bridge.models.worker_warm_up) on a JVM thread,
   * so the sidecar runs no Python beside the user's. A failure only means a slower first
   * query; it lands in the kernel's log.
   */
  def runInBackground(frame: DataFrame, description: String): Unit = {
    val thread = new Thread(() => {
      frame.sparkSession.sparkContext.setJobDescription(description)
      try frame.collect() catch {
        case NonFatal(e) => System.err.println(s"pyshim: warm-up query failed: ${e.getMessage}")
      }
    }, "pyshim-warm-up")
    thread.setDaemon(true)
    thread.start()
  }

  /** The shared value store, also reachable from Python as `z`. */
  def store: Shared.type = Shared
}

/** Errors with a message meant for the notebook and no JVM stack trace. */
class PyshimException(message: String) extends RuntimeException(message, null, false, false)
class SidecarDied(message: String) extends PyshimException(message)
