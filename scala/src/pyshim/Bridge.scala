package pyshim

import java.util.concurrent.{ConcurrentHashMap, LinkedBlockingQueue, TimeUnit}
import java.util.concurrent.atomic.AtomicLong

import scala.concurrent.Promise

import org.apache.spark.api.java.JavaSparkContext
import org.apache.spark.sql.SparkSession

/** Where the output of one Python request goes (the cell's streams). */
trait OutputSink {
  def write(stream: String, text: String): Unit
}

/** A request for the sidecar: an operation, a JSON payload, and where its output goes. */
final class Request(val id: Long, val op: String, val payload: String, val sink: OutputSink) {
  val result: Promise[String] = Promise[String]()
}

/**
 * The py4j entry point. The sidecar's main thread polls `take`, runs the request and calls
 * `complete`; output streams back through `write` while it runs. Polling (instead of py4j
 * callbacks) keeps user code on Python's main thread, where Ctrl-C (SIGINT) lands.
 */
object Bridge {
  @volatile private var session: SparkSession = _
  private val queue = new LinkedBlockingQueue[Request]()
  private val inFlight = new ConcurrentHashMap[Long, Request]()
  private val ids = new AtomicLong()
  @volatile private var readyPid: Long = -1L

  def setSession(spark: SparkSession): Unit = session = spark
  def sparkSession(): SparkSession = session
  def javaSparkContext(): JavaSparkContext = new JavaSparkContext(session.sparkContext)

  def submit(op: String, payload: String, sink: OutputSink): Request = {
    val req = new Request(ids.incrementAndGet(), op, payload, sink)
    inFlight.put(req.id, req)
    queue.put(req)
    req
  }

  /** Called by Python: the next request as [id, op, payload], or null after timeoutMs. */
  def take(timeoutMs: Long): Array[String] = {
    val req = queue.poll(timeoutMs, TimeUnit.MILLISECONDS)
    if (req == null) null else Array(req.id.toString, req.op, req.payload)
  }

  def write(id: Long, stream: String, text: String): Unit =
    Option(inFlight.get(id)).foreach(_.sink.write(stream, text))

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

  def ready(pid: Long): Unit = synchronized { readyPid = pid; notifyAll() }
  def awaitReady(timeoutMs: Long, alive: () => Boolean): Long = synchronized {
    val deadline = System.currentTimeMillis() + timeoutMs
    while (readyPid < 0 && alive() && System.currentTimeMillis() < deadline) wait(100)
    readyPid
  }
  def resetReady(): Unit = synchronized { readyPid = -1L }

  /** The shared value store, also reachable from Python as `z`. */
  def store: Shared.type = Shared
}

/** Errors with a message meant for the notebook and no JVM stack trace. */
class PyshimException(message: String) extends RuntimeException(message, null, false, false)
class SidecarDied(message: String) extends PyshimException(message)
