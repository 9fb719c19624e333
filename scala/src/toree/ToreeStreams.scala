package org.apache.toree.kernel.api.pyshim

import java.io.{OutputStream, PrintStream}

import scala.util.{DynamicVariable, Try}

import org.apache.toree.kernel.api.{Kernel, KernelLike}
import org.apache.toree.plugins.NewOutputStream

/**
 * Toree's own writers to a cell, pointed at the running cell's streams (pyshim.CellOutput).
 *
 * Toree writes to a cell by two more routes than the REPL's Console:
 *  - its magics (%Truncation, %ShowTypes, %LsMagic, %AddJar, %AddDeps...) print to the stream
 *    that the NewOutputStream plugin event hands them for each request;
 *  - `kernel.out` / `kernel.err` make a stream per thread and request.
 * Both are Toree's KernelOutputStream, which a timer thread flushes through the message relay:
 * its text can come after the cell's idle status (a headless run loses it) and out of order
 * with the text sent through CellOutput. Here the event is fired again with the cell's
 * stdout, and kernel.out / kernel.err answer the cell's streams while a cell runs.
 */
object ToreeStreams {
  /** Point Toree's writers at the cell's streams; a Toree without them keeps its own. */
  def point(kernel: KernelLike, out: OutputStream, running: () => Option[(PrintStream, PrintStream)]): Unit =
    kernel match {
      case k: Kernel =>
        Option(k.pluginManager).foreach { plugins =>
          import org.apache.toree.plugins.Implicits._
          plugins.fireEvent(NewOutputStream.name, "outputStream" -> out)
        }
        install(k, "currentOutputStream", () => running().map(_._1))
        install(k, "currentErrorStream", () => running().map(_._2))
      case _ =>
    }

  /** Once per kernel: Kernel keeps the stream of kernel.out / kernel.err in a private DynamicVariable. */
  private def install(kernel: Kernel, name: String, cell: () => Option[PrintStream]): Unit = Try {
    val field = classOf[Kernel].getDeclaredField(name)
    field.setAccessible(true)
    field.get(kernel) match {
      case _: CellVariable =>
      case original: DynamicVariable[PrintStream @unchecked] => field.set(kernel, new CellVariable(original, cell))
    }
  }

  /** The cell's stream while a cell runs; otherwise (between cells, at start) Toree's own. */
  private final class CellVariable(original: DynamicVariable[PrintStream], cell: () => Option[PrintStream])
      extends DynamicVariable[PrintStream](null) {
    override def value: PrintStream = cell().getOrElse(original.value)
    // Kernel stores a stream of its own when the request changed: the one its thread gets after the cell.
    override def value_=(stream: PrintStream): Unit = original.value = stream
  }
}
