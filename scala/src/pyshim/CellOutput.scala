package pyshim

import java.io.{ByteArrayOutputStream, OutputStream, PrintStream}
import java.nio.charset.StandardCharsets.UTF_8
import java.util.concurrent.{Executors, ScheduledFuture, ThreadFactory, TimeUnit}

import scala.util.Try

import org.apache.toree.global.{ExecuteRequestState, ExecutionCounter, StreamState}
import org.apache.toree.kernel.api.KernelLike
import org.apache.toree.kernel.api.pyshim.{IOPub, ToreeStreams}
import org.apache.toree.kernel.protocol.v5.{KMBuilder, KernelMessage, MessageType, Metadata}
import org.apache.toree.kernel.protocol.v5.content.{ExecuteResult, StreamContent}
import org.apache.toree.kernel.protocol.v5.kernel.ActorLoader
import org.apache.toree.security.KernelSecurityManager

/**
 * A cell's text, relayed so that all of it reaches the front end before the cell's reply.
 *
 * Toree's own stream (KernelOutputStream) is flushed by a timer thread, which takes the
 * buffered bytes under a lock and sends them after releasing it. When the cell ends in
 * between, the reply and the idle status overtake that text: a headless run (nbclient,
 * papermill) stops reading at idle and loses it. Here a send happens under this stream's
 * lock, and the cell's end takes the lock: nothing can be in flight when it returns. Text
 * leaves every 50 ms while the cell runs, and on flush().
 */
final class CellStream(send: String => Unit) extends OutputStream {
  private val pending = new ByteArrayOutputStream()
  @volatile private var ended = false

  override def write(b: Int): Unit = synchronized { pending.write(b); if (ended) flush() }
  override def write(b: Array[Byte], off: Int, len: Int): Unit = synchronized {
    pending.write(b, off, len)
    if (ended) flush()
  }

  override def flush(): Unit = synchronized {
    if (pending.size > 0) {
      val bytes = pending.toByteArray
      val cut = if (ended) bytes.length else CellStream.completeUtf8(bytes)
      pending.reset()
      pending.write(bytes, cut, bytes.length - cut)
      if (cut > 0) send(new String(bytes, 0, cut, UTF_8))
    }
  }

  /** The cell is over: send what is left; text written later (by its threads) goes at once. */
  def end(): Unit = synchronized { ended = true; flush() }
}

object CellStream {
  /** Bytes up to the last complete UTF-8 character: a timed flush must not split one. */
  def completeUtf8(bytes: Array[Byte]): Int = {
    var i = bytes.length - 1
    var back = 0
    while (i >= 0 && back < 4 && (bytes(i) & 0xC0) == 0x80) { i -= 1; back += 1 }
    if (i < 0) return bytes.length
    val lead = bytes(i) & 0xFF
    val size = if (lead < 0x80) 1 else if (lead >= 0xF0) 4 else if (lead >= 0xE0) 3 else if (lead >= 0xC0) 2 else 1
    if (back + 1 >= size) bytes.length else i
  }
}

/** Output of the cell's threads to the cell, of other threads to the kernel's log (as Toree does). */
final class ThreadRouted(cell: OutputStream, log: OutputStream) extends OutputStream {
  private def target: OutputStream = {
    val group = Thread.currentThread().getThreadGroup
    if (group != null && group.getName == KernelSecurityManager.RestrictedGroupName) cell else log
  }
  override def write(b: Int): Unit = target.write(b)
  override def write(b: Array[Byte], off: Int, len: Int): Unit = target.write(b, off, len)
  override def flush(): Unit = target.flush()
}

/**
 * The streams of the running cell: stdout (also the REPL's Console.err, as in Toree) and
 * stderr; `result` sends the cell's execute_result, when this Toree lets us (see CellOutput.resultSender).
 */
final class CellOutput(val out: CellStream, val err: CellStream, result: Option[Map[String, String] => Unit] = None,
                       messages: (String, String) => Unit = (_, _) => ()) {
  /** What kernel.out and kernel.err give while the cell runs (no autoflush: text leaves with the stream's ticks). */
  lazy val printStreams: (PrintStream, PrintStream) = (new PrintStream(out, false, "UTF-8"), new PrintStream(err, false, "UTF-8"))
  def flush(): Unit = { out.flush(); err.flush() }
  def end(): Unit = { out.end(); err.end() }

  /**
   * Send the cell's value now, after its text and before its reply. Toree sends it after the
   * reply, through an actor of its own that races the idle status's actor: a headless run
   * stops reading at idle and could lose the value. False when it must be left to Toree.
   */
  def sendResult(data: Map[String, String]): Boolean = result.exists { send => send(data); true }
  /**
   * A Jupyter message of this cell (display_data, update_display_data: its JSON content) from
   * any thread, also after the cell ended, with the cell's execute_request as parent.
   */
  def sendMessage(msgType: String, content: String): Unit = messages(msgType, content)

  /** A line for the cell from any thread (a py4j thread, a %%sql future): notices of the sidecar. */
  def notice(line: String): Unit = { out.write(s"$line\n".getBytes(UTF_8)); out.flush() }
}

object CellOutput {
  @volatile private var running: Option[CellOutput] = None
  private val logOut = System.out
  private val logErr = System.err
  private val ticker = Executors.newSingleThreadScheduledExecutor(new ThreadFactory {
    def newThread(r: Runnable): Thread = { val t = new Thread(r, "pyshim-cell-output"); t.setDaemon(true); t }
  })

  def current: Option[CellOutput] = running

  /**
   * Called by the interpreter as a cell starts (see CellInterpreter). Toree has just pointed
   * its StreamState at its own stream; this points it at ours, and so the streams of Toree's
   * magics and of kernel.out / kernel.err (ToreeStreams). Without a kernel message or
   * Toree's internals as expected, the cell keeps Toree's stream (None).
   */
  def begin(kernel: KernelLike, toree: Option[OutputStream]): Option[CellOutput] = {
    val cell = for {
      parent <- ExecuteRequestState.lastKernelMessage
      loader <- actorLoader(kernel)
      if toree.isDefined
    } yield new CellOutput(new CellStream(sender(loader, KMBuilder().withParent(parent), "stdout")),
                           new CellStream(sender(loader, KMBuilder().withParent(parent), "stderr")),
                           resultSender(loader, parent), messageSender(loader, parent))
    cell.foreach { c =>
      StreamState.setStreams(outputStream = new ThreadRouted(c.out, logOut),
                             errorStream = new ThreadRouted(c.out, logErr))
      running = Some(c)
      ToreeStreams.point(kernel, c.out, () => running.map(_.printStreams))
    }
    cell
  }

  def run[T](cell: Option[CellOutput])(body: => T): T = cell match {
    case None => body
    case Some(c) =>
      val tick: ScheduledFuture[_] = ticker.scheduleWithFixedDelay(() => c.flush(), 50, 50, TimeUnit.MILLISECONDS)
      try body finally {
        tick.cancel(false)
        running = None
        c.end()
      }
  }

  /** The stream for a notice: the running cell, else the kernel's log. */
  def noticeLine(line: String): Unit = running match {
    case Some(c) => c.notice(line)
    case None => logOut.println(line)
  }

  /** Sends one stream message per call, on the caller's thread, straight to IOPub (see IOPub). */
  private def sender(loader: ActorLoader, builder: KMBuilder, name: String): String => Unit = text =>
    IOPub.send(loader, builder.withIds(Seq(MessageType.Outgoing.Stream.toString.getBytes(UTF_8)))
      .withHeader(MessageType.Outgoing.Stream).withContentString(StreamContent(name, text)).build)

  private def messageSender(loader: ActorLoader, parent: KernelMessage): (String, String) => Unit = (msgType, content) =>
    IOPub.send(loader, KMBuilder().withParent(parent).withIds(Seq(msgType.getBytes(UTF_8)))
      .withHeader(msgType).withContentString(content).build)

  /**
   * The execute_result of the cell that `parent` asked for, as Toree builds it (ExecuteResult
   * and its JSON writer), numbered with Toree's count for the session, which Toree keeps
   * private (read here; None, and Toree sends the value itself, if that ever changes).
   */
  private def resultSender(loader: ActorLoader, parent: KernelMessage): Option[Map[String, String] => Unit] =
    executionCount(parent.header.session).map { count => (data: Map[String, String]) =>
      val message = KMBuilder().withParent(parent)
        .withIds(Seq(MessageType.Outgoing.ExecuteResult.toString.getBytes(UTF_8)))
        .withHeader(MessageType.Outgoing.ExecuteResult)
        .withContentString(ExecuteResult(count, data, Metadata())).build
      IOPub.send(loader, message)
    }

  private def executionCount(session: String): Option[Int] = Try {
    val field = ExecutionCounter.getClass.getDeclaredField("executionCounts")
    field.setAccessible(true)
    field.get(ExecutionCounter).asInstanceOf[scala.collection.Map[String, Int]].get(session)
  }.toOption.flatten

  /** Toree keeps its actor loader private in Kernel; it is the only route to send a message. */
  def actorLoader(kernel: KernelLike): Option[ActorLoader] = Try {
    val classes = Iterator.iterate[Class[_]](kernel.getClass)(_.getSuperclass).takeWhile(_ != null)
    val field = classes.flatMap(_.getDeclaredFields).find(f => classOf[ActorLoader].isAssignableFrom(f.getType)).get
    field.setAccessible(true)
    field.get(kernel).asInstanceOf[ActorLoader]
  }.toOption
}
