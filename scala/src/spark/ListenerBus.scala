package org.apache.spark.pyshim

import org.apache.spark.SparkContext

/**
 * Spark keeps its listener bus `private[spark]`. pyshim.Lineage waits on it so that a cell
 * (or a job) ends only once the lineage of its writes is recorded: QueryExecutionListeners
 * run on that bus, after the query has returned.
 */
object ListenerBus {
  /** True when every event posted so far was delivered within timeoutMs. */
  def waitUntilEmpty(sc: SparkContext, timeoutMs: Long): Boolean =
    try { sc.listenerBus.waitUntilEmpty(timeoutMs); true }
    catch { case _: java.util.concurrent.TimeoutException => false }
}
