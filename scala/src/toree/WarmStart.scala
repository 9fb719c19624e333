package pyshim

import scala.util.Try

import org.apache.spark.sql.SparkSession
import org.apache.toree.kernel.api.KernelLike
import org.apache.toree.plugins.Plugin
import org.apache.toree.plugins.annotations.Init

/**
 * Toree loads this plugin before its Scala interpreter starts. It then brings up, on a
 * thread of its own, what the first model call needs: the SparkSession, the Python
 * sidecar and Spark's Python workers. The interpreter's start (about 10 s of compiling)
 * and these overlap, so the first cells do not wait for them one after the other.
 * PYSHIM_WARM_START=0 turns it off: everything then starts on first use.
 */
class WarmStart extends Plugin {
  @Init def warmStart(kernel: KernelLike): Unit = WarmStart.begin(kernel)
}

object WarmStart {
  private val Off = Set("0", "false", "no", "off")
  private val SessionWaitMs = 600000L

  def enabled: Boolean = !sys.env.get("PYSHIM_WARM_START").exists(v => Off(v.trim.toLowerCase))

  def begin(kernel: KernelLike): Unit = if (enabled) {
    val thread = new Thread(() => session(kernel).foreach(Sidecar.warmStart), "pyshim-warm-start")
    thread.setDaemon(true)
    thread.start()
  }

  /**
   * Toree's own getOrCreate, so the session is configured as Toree configures it. With a
   * remote master Toree may try to print "Waiting for a Spark session" from this thread,
   * which has no cell to print to; its session still arrives, so we wait for it.
   */
  private def session(kernel: KernelLike): Option[SparkSession] =
    Try(kernel.sparkSession).toOption.orElse {
      val deadline = System.currentTimeMillis() + SessionWaitMs
      var found = SparkSession.getDefaultSession
      while (found.isEmpty && System.currentTimeMillis() < deadline) {
        Thread.sleep(200)
        found = SparkSession.getDefaultSession
      }
      found
    }
}
