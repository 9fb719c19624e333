package pyshim

import java.util.UUID
import java.util.concurrent.{ConcurrentHashMap, Executors, ThreadFactory, TimeUnit}
import java.util.concurrent.atomic.AtomicLong

import scala.collection.JavaConverters._
import scala.collection.mutable
import scala.util.Try

import org.apache.spark.SparkContext
import org.apache.spark.scheduler._
import org.apache.spark.sql.SparkSession
import org.json4s.JsonDSL._
import org.json4s.jackson.JsonMethods.{compact, render}

/** One Spark job of a cell, as the listener saw it start and end (task counts come from polling). */
private[pyshim] final class JobRecord(val id: Int, val name: String, val startMs: Long, val stageTasks: Map[Int, Int]) {
  val completedStages: mutable.Set[Int] = mutable.Set.empty
  var endMs: Long = 0L
  var outcome: Option[String] = None // "done", "cancelled" or "failed in stage N"
  var failedStage: Option[Int] = None
}

/**
 * The Spark jobs of one cell, tagged with its job tag, and its progress display: one
 * display_data with a transient display_id once a job has run for half a second, then
 * update_display_data with the same id when the counts change (polled, at most twice a
 * second), and the summary before the cell's reply. The messages go straight to IOPub with
 * the cell's execute_request as parent (CellOutput.sendMessage): Toree's relay drops
 * update_display_data, and its kernel.display may take a comm message as parent.
 * Jobs of threads the cell started (that carry its tag) still update it after the cell ended.
 */
final class CellJobs private[pyshim] (val tag: String, val sc: SparkContext, output: CellOutput, showUi: Int => Option[String]) {
  private val jobs = mutable.LinkedHashMap[Int, JobRecord]()
  private val displayId = s"pyshim-progress-${UUID.randomUUID()}"
  private var shown = false
  private var lastText = ""
  private var cellEnded = false
  private var settled = false
  private val begun = System.currentTimeMillis()
  private val phases = mutable.ArrayBuffer[(String, Long)]() // a %register_model's phases and their start

  /** A long operation of the cell (a %register_model) is in `name` now (shown after a second). */
  def phase(name: String): Unit = if (name.nonEmpty) {
    synchronized { phases += name -> System.currentTimeMillis(); settled = false }
    Progress.watch(this)
  }

  /** Run `body` with this cell's tag on the current thread (and the threads it starts). */
  def tagging[T](body: => T): T = {
    sc.addJobTag(tag)
    try body finally Try(sc.removeJobTag(tag))
  }

  private[pyshim] def jobStarted(job: JobRecord): Unit = synchronized { jobs(job.id) = job; settled = false }

  private[pyshim] def stageCompleted(info: StageInfo): Unit = synchronized {
    jobs.values.filter(_.stageTasks.contains(info.stageId)).foreach { job =>
      if (info.failureReason.isEmpty) job.completedStages += info.stageId
      else if (job.failedStage.isEmpty) job.failedStage = Some(info.stageId)
    }
  }

  private[pyshim] def jobEnded(end: SparkListenerJobEnd): Unit = synchronized {
    jobs.get(end.jobId).foreach { job =>
      job.endMs = end.time
      job.outcome = Some(end.jobResult match {
        case JobSucceeded => "done"
        // JobFailed is Spark-private; its text holds the exception's ("Job 3 cancelled ...").
        case failed if failed.toString.contains("cancelled") => "cancelled"
        case _ => job.failedStage.map(s => s"failed in stage $s").getOrElse("failed")
      })
    }
    notifyAll()
  }

  /** The poller's turn: show the display, update it, or settle on the summary. False once settled. */
  private[pyshim] def poll(now: Long): Boolean = synchronized {
    if ((jobs.nonEmpty || phases.nonEmpty) && !settled) {
      val jobRan = jobs.values.exists(j => j.outcome.isEmpty && now - j.startMs >= Progress.ShowAfterMs)
      val longPhase = phases.nonEmpty && !cellEnded && now - begun >= Progress.PhaseAfterMs
      if (!shown && (jobRan || longPhase)) show()
      else if (shown) update()
      if (cellEnded && allEnded) settle()
    }
    !settled
  }

  /** The cell returns: its own jobs have ended (their end events may still be queued). */
  private[pyshim] def end(): Unit = synchronized {
    cellEnded = true
    val deadline = System.currentTimeMillis() + Progress.EndWaitMs
    while (!allEnded && System.currentTimeMillis() < deadline) wait(20)
    if (!settled) { if (allEnded) settle() else if (shown) update() }
  }

  private def allEnded: Boolean = jobs.values.forall(_.outcome.isDefined)

  private def show(): Unit = {
    output.flush() // the text printed so far comes first
    val frame = ProgressFrame.running(views, currentPhase)
    send("display_data", frame)
    shown = true
    lastText = frame("text/plain")
  }

  private def update(): Unit = {
    val frame = ProgressFrame.running(views, currentPhase)
    if (frame("text/plain") != lastText) { send("update_display_data", frame); lastText = frame("text/plain") }
  }

  private def settle(): Unit = {
    if (shown && phases.nonEmpty) send("update_display_data", ProgressFrame.phases(phaseTimes, views))
    else if (shown) {
      val first = jobs.values.map(_.startMs).min
      val last = jobs.values.map(_.endMs).max
      send("update_display_data", ProgressFrame.summary(views, (last - first) / 1000.0))
    }
    settled = true
  }

  private def send(msgType: String, data: Map[String, String]): Unit =
    output.sendMessage(msgType, compact(render(("data" -> data) ~ ("metadata" -> Map.empty[String, String]) ~
      ("transient" -> ("display_id" -> displayId)))))

  private def views: Seq[JobView] = jobs.values.toSeq.map(view)

  private def currentPhase: Option[String] = if (cellEnded) None else phases.lastOption.map(_._1)

  /** Each phase and its seconds (a phase lasts until the next one, the last until the cell ended). */
  private def phaseTimes: Seq[(String, Double)] = {
    val ends = phases.drop(1).map(_._2) :+ System.currentTimeMillis()
    phases.zip(ends).map { case ((name, start), end) => name -> (end - start) / 1000.0 }.toSeq
  }

  private def view(job: JobRecord): JobView = {
    val tracker = sc.statusTracker
    val live = job.stageTasks.keys.filterNot(job.completedStages).flatMap(s => tracker.getStageInfo(s)).toSeq
    val succeeded = job.outcome.contains("done")
    // A succeeded job's stages that never completed were skipped (their output was reused).
    val counted = if (succeeded) job.stageTasks.filterKeys(job.completedStages).toMap else job.stageTasks
    val finished = job.completedStages.toSeq.flatMap(job.stageTasks.get).sum
    val tasks = counted.values.sum
    val done = if (succeeded) tasks else math.min(tasks, finished + live.map(_.numCompletedTasks).sum)
    val runningTasks = if (job.outcome.isDefined) 0 else live.map(_.numActiveTasks).sum
    JobView(job.id, job.name, job.completedStages.size, counted.size, done, runningTasks, tasks, job.outcome, showUi(job.id))
  }
}

/**
 * Ties Spark jobs to the cell that started them (Spark 3.5 job tags, which leave a user's
 * own setJobGroup alone) and runs the progress displays. A listener maps a job's start to
 * its cell's tag and records stage and job ends; the task counts are read by polling the
 * status tracker every half second, never from per-task events (a job of thousands of
 * short tasks would flood the listener bus and the front end).
 * PYSHIM_PROGRESS=0 turns the displays off; the interrupt still cancels only the cell's jobs.
 */
object Progress {
  val ShowAfterMs = 500L
  val PollMs = 500L
  val EndWaitMs = 2000L
  val PhaseAfterMs = 1000L
  private val TagPrefix = "pyshim-cell-"
  private val KeptCells = 64
  private val Off = Set("0", "false", "no", "off")

  val enabled: Boolean = !sys.env.get("PYSHIM_PROGRESS").exists(v => Off(v.trim.toLowerCase))

  private val counter = new AtomicLong()
  // Recent cells by tag: a thread a cell started may run jobs after the cell ended.
  private val cells = java.util.Collections.synchronizedMap(new java.util.LinkedHashMap[String, CellJobs](16, 0.75f, false) {
    override def removeEldestEntry(e: java.util.Map.Entry[String, CellJobs]): Boolean = size() > KeptCells
  })
  private val active = ConcurrentHashMap.newKeySet[CellJobs]()
  @volatile private var running: Option[CellJobs] = None
  @volatile private var listening: SparkContext = _

  private lazy val poller = {
    val pool = Executors.newSingleThreadScheduledExecutor(new ThreadFactory {
      def newThread(r: Runnable): Thread = { val t = new Thread(r, "pyshim-progress"); t.setDaemon(true); t }
    })
    pool.scheduleWithFixedDelay(() => pollAll(), PollMs, PollMs, TimeUnit.MILLISECONDS)
    pool
  }

  /** The running cell's jobs, if a cell runs and Spark is up. */
  def current: Option[CellJobs] = running

  /**
   * Around a cell (CellInterpreter): its tag while it runs, its summary before it returns.
   * Without a SparkContext yet (the warm start still makes it) the cell runs untagged.
   */
  def during[T](output: Option[CellOutput])(body: => T): T = {
    val cell = for {
      out <- output
      sc <- SparkSession.getDefaultSession.map(_.sparkContext).filterNot(_.isStopped)
    } yield begin(sc, out)
    cell.foreach { _ => Interrupts.install() }
    running = cell
    try body finally {
      running = None
      cell.foreach(c => if (enabled) c.end())
    }
  }

  /** Ctrl-C: cancel the running cell's jobs, and no other cell's (Toree's own cancels every job). */
  def cancelRunning(): Unit = running.foreach(c => Try(c.sc.cancelJobsWithTag(c.tag)))

  private def begin(sc: SparkContext, output: CellOutput): CellJobs = {
    val cell = new CellJobs(s"$TagPrefix${counter.incrementAndGet()}", sc, output, uiLink(sc))
    if (enabled) {
      listenTo(sc)
      cells.put(cell.tag, cell)
      poller
    }
    cell
  }

  /** Poll this cell (it has jobs, or a long operation in phases). */
  private[pyshim] def watch(cell: CellJobs): Unit = if (enabled) active.add(cell)

  private def listenTo(sc: SparkContext): Unit = synchronized {
    if (listening ne sc) { sc.addSparkListener(Listener); listening = sc }
  }

  private def pollAll(): Unit = {
    val now = System.currentTimeMillis()
    active.asScala.toList.foreach { cell =>
      if (!Try(cell.poll(now)).getOrElse(false)) active.remove(cell)
    }
  }

  /** The cell whose tag a job carries (Spark keeps a job's tags comma-separated in a local property). */
  private def cellOf(properties: java.util.Properties): Option[CellJobs] =
    Option(properties).flatMap(p => Option(p.getProperty("spark.job.tags"))).toSeq
      .flatMap(_.split(",")).filter(_.startsWith(TagPrefix)).flatMap(t => Option(cells.get(t))).headOption

  private object Listener extends SparkListener {
    private val owners = new ConcurrentHashMap[Int, CellJobs]()

    override def onJobStart(start: SparkListenerJobStart): Unit = cellOf(start.properties).foreach { cell =>
      val name = Option(start.properties.getProperty("spark.job.description"))
        .orElse(start.stageInfos.sortBy(_.stageId).lastOption.map(_.name)).getOrElse("")
      val stages = start.stageInfos.map(s => s.stageId -> s.numTasks).toMap
      owners.put(start.jobId, cell)
      cell.jobStarted(new JobRecord(start.jobId, name.take(80), start.time, stages))
      watch(cell)
    }

    override def onStageCompleted(done: SparkListenerStageCompleted): Unit =
      active.asScala.foreach(_.stageCompleted(done.stageInfo))

    override def onJobEnd(end: SparkListenerJobEnd): Unit = Option(owners.remove(end.jobId)).foreach(_.jobEnded(end))
  }

  /**
   * The Spark UI page of a job: none when the UI is off; through the reverse proxy when
   * spark.ui.reverseProxy is on (only with an absolute spark.ui.reverseProxyUrl: the
   * master's own address is not known here).
   */
  private def uiLink(sc: SparkContext): Int => Option[String] = {
    val conf = sc.getConf
    val base =
      if (!conf.getBoolean("spark.ui.enabled", true)) None
      else if (conf.getBoolean("spark.ui.reverseProxy", false))
        conf.getOption("spark.ui.reverseProxyUrl").filter(_.matches("(?i)https?://.+"))
          .map(url => s"${url.stripSuffix("/")}/proxy/${sc.applicationId}")
      else sc.uiWebUrl
    id => base.map(b => s"$b/jobs/job/?id=$id")
  }
}
