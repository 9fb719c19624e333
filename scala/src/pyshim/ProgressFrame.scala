package pyshim

import java.util.Locale

/** What one Spark job of a cell has done, as shown in the cell's progress display. */
final case class JobView(id: Int, name: String, stagesDone: Int, stages: Int, tasksDone: Int,
                         tasksRunning: Int, tasks: Int, outcome: Option[String], link: Option[String]) {
  def running: Boolean = outcome.isEmpty
}

/**
 * The progress display's content: a MIME bundle with static HTML (a table and <progress>
 * bars, no script, no button, nothing JupyterLab's sanitizer removes) and a text line per
 * job for consoles, nbclient and the review copies.
 */
object ProgressFrame {
  /** Rows shown at most; a cell of many short jobs shows its latest ones and a count of the rest. */
  val MaxRows = 5

  def running(jobs: Seq[JobView], phase: Option[String] = None): Map[String, String] = {
    val shown = jobs.sortBy(j => (!j.running, -j.id)).take(MaxRows).sortBy(_.id)
    val hidden = jobs.filterNot(shown.contains)
    val more = if (hidden.isEmpty) None
               else Some(s"${count(hidden.size, "more job")} · ${number(hidden.map(_.tasksDone).sum)} tasks done")
    val step = phase.map(p => s"%register_model: $p")
    val text = (step ++ shown.map(textLine) ++ more).mkString("\n")
    def line(text: String) = s"""<tr><td colspan="5">${escape(text)}</td></tr>"""
    val rows = step.map(line).toSeq ++ shown.map(htmlRow) ++ more.map(line)
    Map("text/plain" -> text,
        "text/html" -> s"""<table class="pyshim-progress">${rows.mkString}</table>""")
  }

  /** The final frame: "3 jobs · 10,000 tasks · 41 s", or how it was cancelled or failed. */
  def summary(jobs: Seq[JobView], seconds: Double): Map[String, String] = {
    val done = jobs.map(_.tasksDone).sum
    val total = jobs.map(_.tasks).sum
    val failed = jobs.find(_.outcome.exists(_.startsWith("failed")))
    val ending = if (jobs.exists(_.outcome.contains("cancelled"))) Some("cancelled")
                 else failed.flatMap(_.outcome)
    val tasks = if (ending.isEmpty) s"${number(done)} tasks" else s"${number(done)} of ${number(total)} tasks"
    val line = (ending.toSeq ++ Seq(count(jobs.size, "job"), tasks, duration(seconds))).mkString(" · ")
    val link = jobs.flatMap(_.link).lastOption
      .map(url => s""" · <a href="${escape(url)}" target="_blank" rel="noopener noreferrer">Spark UI</a>""").getOrElse("")
    Map("text/plain" -> line, "text/html" -> s"""<div class="pyshim-progress">${escape(line)}$link</div>""")
  }

  /** The final frame of a %register_model: how long each phase took, and its jobs. */
  def phases(times: Seq[(String, Double)], jobs: Seq[JobView]): Map[String, String] = {
    val steps = times.map { case (name, seconds) => s"$name ${duration(seconds)}" }
    val spark = if (jobs.isEmpty) Nil else Seq(s"${count(jobs.size, "Spark job")} (${number(jobs.map(_.tasksDone).sum)} tasks)")
    val line = (s"%register_model in ${duration(times.map(_._2).sum)}" +: (steps ++ spark)).mkString(" · ")
    Map("text/plain" -> line, "text/html" -> s"""<div class="pyshim-progress">${escape(line)}</div>""")
  }

  private def textLine(j: JobView): String = {
    val state = j.outcome.getOrElse(s"${number(j.tasksRunning)} running")
    s"Job ${j.id} ${j.name}: stages ${j.stagesDone}/${j.stages} · tasks ${number(j.tasksDone)}/${number(j.tasks)} · $state"
  }

  private def htmlRow(j: JobView): String = {
    val state = j.outcome.getOrElse(s"${number(j.tasksRunning)} running")
    val link = j.link.map(url => s"""<a href="${escape(url)}" target="_blank" rel="noopener noreferrer">Spark UI</a>""").getOrElse("")
    s"<tr><td>Job ${j.id} ${escape(j.name)}</td>" +
      s"""<td><progress value="${j.tasksDone}" max="${math.max(j.tasks, 1)}"></progress></td>""" +
      s"<td>stages ${j.stagesDone}/${j.stages}</td>" +
      s"<td>tasks ${number(j.tasksDone)}/${number(j.tasks)} · ${escape(state)}</td><td>$link</td></tr>"
  }

  def number(n: Int): String = String.format(Locale.US, "%,d", Int.box(n))

  private def count(n: Int, what: String): String = s"${number(n)} $what${if (n == 1) "" else "s"}"

  def duration(seconds: Double): String =
    if (seconds < 10) String.format(Locale.US, "%.1f s", Double.box(seconds))
    else if (seconds < 120) s"${math.round(seconds)} s"
    else s"${(seconds / 60).toInt} min ${math.round(seconds % 60)} s"

  def escape(text: String): String =
    text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;")
}
