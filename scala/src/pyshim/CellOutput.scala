package pyshim

import java.io.{ByteArrayOutputStream, OutputStream, PrintStream}
import java.nio.charset.StandardCharsets.UTF_8
import java.util.concurrent.{Executors, ScheduledFuture, ThreadFactory, TimeUnit}


/**
 * A cell's text, relayed so that all of it reaches the front end before the cell's reply.
 * Shared by both kernels: Toree's (toree/ToreeCellOutput.scala sends through Toree's actors)
 * and pyshim's own Scala kernel (repl/, where Python polls the cell's events).
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
final class ThreadRouted(cell: OutputStream, log: OutputStream, inCell: () => Boolean) extends OutputStream {
  private def target: OutputStream = if (inCell()) cell else log
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
  val logOut: PrintStream = System.out
  val logErr: PrintStream = System.err
  private val ticker = Executors.newSingleThreadScheduledExecutor(new ThreadFactory {
    def newThread(r: Runnable): Thread = { val t = new Thread(r, "pyshim-cell-output"); t.setDaemon(true); t }
  })

  def current: Option[CellOutput] = running

  /** The kernel's cell starts: its streams get the text of notices and of Python requests. */
  def attach(cell: CellOutput): Unit = running = Some(cell)

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
}
