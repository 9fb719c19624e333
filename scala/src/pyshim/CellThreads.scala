package pyshim

import java.lang.Thread.State

import scala.util.control.NonFatal

/**
 * Interrupting a runaway cell: the thread that runs a cell's code, and how an interrupt ends
 * it. Shared by the Scala kernels (Toree's CellInterpreter on Spark 3.5, and a kernel that
 * runs Scala's IMain over py4j): it uses nothing but the JDK and the Scala library, so it
 * compiles on Scala 2.12 and 2.13.
 *
 * Use:
 * {{{
 *   val cell = new CellThreads.Cell
 *   CellThreads.run(cell) { interpreter.interpret(code) }   // on the thread that runs the cell
 *   cell.interruption                                     // Some(message) if it was interrupted
 *
 *   CellThreads.interrupt(graceMillis = 1000, cancelJobs)  // from any other thread (Ctrl-C)
 * }}}
 * and where the cell failed after an interrupt, show `cell.interruption` instead of its error
 * if `CellThreads.fromInterrupt(errorText)` (an error of the code's own, such as a Python
 * traceback it relays, stays as it is).
 *
 * An interrupt first interrupts the cell's thread (`Thread.interrupt`: sleeps, `wait`, blocking
 * queues, Spark's job waits and interruptible I/O end with an InterruptedException). If the
 * cell still runs after the grace period, its thread is stopped with `Thread.stop` (Java 17
 * has it; from Java 20 on it throws UnsupportedOperationException): the code gets a
 * ThreadDeath wherever it is, which the REPL reports as the line's error. Only that thread is
 * touched: Spark's, the kernel's and the threads a cell started go on. A stopped cell may
 * leave objects it was changing half-updated; values defined by earlier cells stay.
 *
 * When the thread cannot be stopped (a newer JVM, a thread blocked entering a monitor, code
 * that catches ThreadDeath), `interrupt` says so: the cell's code still runs in the
 * background, the caller stops waiting for it and shows the message, which names the way
 * out (a kernel restart). Such code, if it ever returns, finishes its line in the REPL on
 * that thread, beside whatever cell runs then (IMain is not thread-safe): hence the restart.
 *
 * One cell runs at a time: a `run` inside a running cell (on another thread, e.g. a binding
 * the cell's magic asks for) runs its body untracked, as part of the outer cell.
 */
object CellThreads {
  /** How long a stopped thread gets to leave the cell (the REPL records the error first). */
  private val StopWaitMs = 4000L
  private val PollMs = 20L

  /** One run of a cell: made by the caller, run by `run`, read after it (or after `interrupt`). */
  final class Cell {
    @volatile private[CellThreads] var thread: Thread = _
    @volatile private[CellThreads] var startedMs = 0L
    @volatile private[CellThreads] var ended = false
    @volatile private[CellThreads] var answersWithinMs = 0L
    @volatile private[CellThreads] var note: Option[String] = None

    /** The interrupt's one-line message once this cell was interrupted (whatever its code did then). */
    def interruption: Option[String] = note

    /** Seconds the cell had run, as the message shows them. */
    private[CellThreads] def ranFor: String = f"${(System.currentTimeMillis() - startedMs) / 1000.0}%.1f s"
  }

  /**
   * What an interrupt did. `message`: the one line for the cell (also `cell.interruption`).
   * `ended`: the cell's code has returned; if false it still runs in the background and
   * whoever waits for it should stop waiting and end the cell with `message`.
   */
  final case class Interruption(message: String, ended: Boolean)

  private val InterruptErrors = Set("java.lang.InterruptedException", "java.lang.ThreadDeath",
    "java.nio.channels.ClosedByInterruptException", "java.io.InterruptedIOException")

  @volatile private var current: Option[Cell] = None
  private var handling = false // an interrupt is being handled (a second one waits for nothing)

  /** The cell that runs now, if any. */
  def running: Option[Cell] = current

  /**
   * Run `body` on the calling thread as `cell`'s code, so that an interrupt reaches this
   * thread. Afterwards the thread's interrupt flag is cleared (a pooled thread runs the next
   * cell). Inside another running cell, `body` just runs, as part of that cell.
   */
  def run[T](cell: Cell)(body: => T): T = {
    val tracked = synchronized {
      if (current.isDefined) false
      else {
        cell.thread = Thread.currentThread()
        cell.startedMs = System.currentTimeMillis()
        current = Some(cell)
        true
      }
    }
    if (!tracked) body
    else try body finally {
      // Under the cell's lock, as `interruptCell` interrupts: an interrupt lands before the
      // end (and is cleared here) or never, not in what the caller does after the cell (its
      // progress summary's wait would end with an InterruptedException).
      cell.synchronized { cell.ended = true; Thread.interrupted(); cell.notifyAll() }
      synchronized { if (current.contains(cell)) current = None }
    }
  }

  /**
   * In a cell, `body` answers an interrupt by itself within `millis` (a call that relays the
   * interrupt to Python and waits for its answer): its thread is interrupted, but not stopped
   * before then.
   */
  def answering[T](millis: Long)(body: => T): T = current.filter(_.thread eq Thread.currentThread()) match {
    case Some(cell) =>
      val before = cell.answersWithinMs
      cell.answersWithinMs = millis
      try body finally cell.answersWithinMs = before
    case None => body
  }

  /**
   * Whether a cell's error is what an interrupt makes: its text (`class: message`, as the
   * REPL prints an exception) starts with the thread's InterruptedException or ThreadDeath,
   * or a cancelled Spark job's SparkException.
   */
  def fromInterrupt(errorText: String): Boolean = {
    val first = Option(errorText).map(_.trim.linesIterator.take(1).mkString).getOrElse("")
    InterruptErrors.exists(first.startsWith) ||
      (first.startsWith("org.apache.spark.SparkException") && first.contains("cancelled"))
  }

  /**
   * Interrupt the running cell: interrupt its thread, and stop it if it still runs
   * `graceMillis` later. Blocks until the cell's code ended or was given up on (at most about
   * `graceMillis` + 4 s, plus what `answering` allows). None when no cell runs, or when an
   * interrupt of it is being handled already (a second Ctrl-C only cancels the jobs again).
   */
  def interrupt(graceMillis: Long, cancelJobs: () => Unit = () => ()): Option[Interruption] = {
    val claimed = synchronized {
      if (handling) None else current.map { cell => handling = true; cell }
    }
    if (claimed.isEmpty) cancelJobs() // a second Ctrl-C, or no cell code tracked: the jobs still end
    claimed.map { cell =>
      try interruptCell(cell, graceMillis, cancelJobs) finally synchronized { handling = false }
    }
  }

  /**
   * `cancelJobs` (the cell's Spark jobs) runs once the cell's message is set: a job cancelled
   * before that could end the cell with Spark's "Job cancelled" error first, which the caller
   * would then show as the cell's own.
   */
  private def interruptCell(cell: Cell, graceMillis: Long, cancelJobs: () => Unit): Interruption = {
    val ran = cell.ranFor
    val interruptedNote = s"Interrupted after $ran: the cell's thread was interrupted."
    if (!noteUnlessEnded(cell, interruptedNote, t => { cancelJobs(); t.interrupt() }))
      return Interruption(interruptedNote, ended = true)
    if (awaitEnd(cell, graceMillis + cell.answersWithinMs)) return Interruption(interruptedNote, ended = true)

    val stoppedNote = s"Interrupted after $ran: the cell's code did not answer, so its thread was stopped."
    val blocker = lockOwner(cell.thread)
    var cannotStop: Option[String] = None
    if (!noteUnlessEnded(cell, stoppedNote, t => cannotStop = stop(t))) return Interruption(interruptedNote, ended = true)
    cannotStop match {
      case Some(why) => givenUp(cell, s"Interrupted after $ran, but $why")
      case None if awaitEnd(cell, StopWaitMs) => Interruption(stoppedNote, ended = true)
      case None => givenUp(cell, s"Interrupted after $ran, but the cell's code did not stop$blocker")
    }
  }

  /** The cell's code still runs: say so, and name the way out. */
  private def givenUp(cell: Cell, what: String): Interruption = {
    val message = s"$what: it still runs in the background; restart the kernel to end it."
    if (noteUnlessEnded(cell, message)) {
      synchronized { if (current.contains(cell)) current = None } // the next cell is the one that runs
      Interruption(message, ended = false)
    } else Interruption(cell.note.getOrElse(message), ended = true)
  }

  /**
   * Set the cell's message and do `act` to its thread (interrupt or stop it), unless its code
   * has ended (then its message stays). True if set. Under the cell's lock, which `run` takes
   * to end the cell: the thread is never interrupted or stopped once the cell's code ended.
   */
  private def noteUnlessEnded(cell: Cell, message: String, act: Thread => Unit = _ => ()): Boolean = cell.synchronized {
    if (!cell.ended) { cell.note = Some(message); act(cell.thread) }
    !cell.ended
  }

  private def awaitEnd(cell: Cell, millis: Long): Boolean = cell.synchronized {
    val deadline = System.currentTimeMillis() + millis
    while (!cell.ended && System.currentTimeMillis() < deadline) cell.wait(PollMs)
    cell.ended
  }

  /** Thread.stop, looked up at run time: None once asked, or why this JVM cannot. */
  private def stop(thread: Thread): Option[String] =
    try { classOf[Thread].getMethod("stop").invoke(thread); None }
    catch {
      case e: java.lang.reflect.InvocationTargetException if e.getCause.isInstanceOf[UnsupportedOperationException] =>
        Some(s"this JVM (Java ${Runtime.version().feature()}) cannot stop the cell's code")
      case _: NoSuchMethodException =>
        Some(s"this JVM (Java ${Runtime.version().feature()}) cannot stop the cell's code")
      case NonFatal(e) => Some(s"stopping the cell's thread failed (${e.getClass.getSimpleName})")
    }

  /** " (blocked on a lock that thread T holds)" when the thread waits to enter a monitor. */
  private def lockOwner(thread: Thread): String =
    if (thread.getState != State.BLOCKED) ""
    else {
      val info = Option(java.lang.management.ManagementFactory.getThreadMXBean.getThreadInfo(thread.getId))
      info.flatMap(i => Option(i.getLockOwnerName)).map(owner => s" (blocked on a lock that thread '$owner' holds)")
        .getOrElse(" (blocked on a lock)")
    }
}
