package pyshim

import java.io.OutputStream
import java.nio.charset.StandardCharsets.UTF_8

import scala.util.Try

import org.apache.toree.global.{ExecuteRequestState, ExecutionCounter, StreamState}
import org.apache.toree.kernel.api.KernelLike
import org.apache.toree.kernel.api.pyshim.{IOPub, ToreeStreams}
import org.apache.toree.kernel.protocol.v5.{KMBuilder, KernelMessage, MessageType, Metadata}
import org.apache.toree.kernel.protocol.v5.content.{ExecuteResult, StreamContent}
import org.apache.toree.kernel.protocol.v5.kernel.ActorLoader
import org.apache.toree.security.KernelSecurityManager

/** A cell's CellOutput in the Toree kernel: its text and messages go out through Toree's actors. */
object ToreeCellOutput {
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
      StreamState.setStreams(outputStream = new ThreadRouted(c.out, CellOutput.logOut, inCellThread),
                             errorStream = new ThreadRouted(c.out, CellOutput.logErr, inCellThread))
      CellOutput.attach(c)
      ToreeStreams.point(kernel, c.out, () => CellOutput.current.map(_.printStreams))
    }
    cell
  }

  /** Toree runs cells (and the threads they start) in its restricted thread group. */
  private val inCellThread: () => Boolean = () => {
    val group = Thread.currentThread().getThreadGroup
    group != null && group.getName == KernelSecurityManager.RestrictedGroupName
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
