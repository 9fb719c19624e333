package org.apache.toree.kernel.api.pyshim

import java.nio.charset.StandardCharsets

import org.apache.toree.kernel.api.{DisplayMethods, KernelLike}
import org.apache.toree.kernel.protocol.v5.kernel.ActorLoader

/**
 * Rich output of a cell: a Jupyter IOPub message with a full MIME bundle, sent mid-cell.
 * Toree's public `kernel.display.content` sends one MIME type per message. Its
 * DisplayMethods builds the message for the cell being run (kmBuilder: parent header, ids;
 * package-private, hence this package) and hands it to the kernel's message relay, which
 * keeps it in order with the cell's stream messages; we do the same with our own content.
 */
object DisplayRelay {
  private lazy val relayOf: DisplayMethods => ActorLoader = {
    val field = classOf[DisplayMethods].getDeclaredField("actorLoader") // private in Toree 0.5
    field.setAccessible(true)
    methods => field.get(methods).asInstanceOf[ActorLoader]
  }

  /** Send `content` (JSON) as a `msgType` message of the current cell; false if this Toree cannot. */
  def send(kernel: KernelLike, msgType: String, content: String): Boolean = kernel.display match {
    case methods: DisplayMethods =>
      val message = methods.kmBuilder.withIds(Seq(msgType.getBytes(StandardCharsets.UTF_8)))
        .withHeader(msgType).withContentString(content).build(true)
      IOPub.send(relayOf(methods), message)  // in order with the cell's streams, before its idle
      true
    case _ => false
  }
}
