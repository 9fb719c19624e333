package pyshim

import java.util.concurrent.ConcurrentHashMap

import scala.collection.JavaConverters._

import org.apache.spark.sql.{DataFrame, Dataset, Row}

/**
 * A small store shared by Scala and Python cells, like Zeppelin's z.put / z.get.
 * Values are kept as Java types so py4j hands Python real lists and dicts; Scala gets
 * Scala collections back. A Dataset is kept as it is: Python gets a PySpark DataFrame over
 * this same JVM object, and a DataFrame put from Python (or a pandas one, converted through
 * Arrow in the sidecar) is the JVM Dataset that `getDataFrame` returns.
 */
object Shared {
  private val values = new ConcurrentHashMap[String, AnyRef]()

  def put(key: String, value: Any): Unit = values.put(key, toJava(value))

  def get(key: String): Any = Option(values.get(key)).map(toScala).getOrElse(
    throw new PyshimException(s"z.get: no value named '$key'; put one first with z.put(" + "\"" + key + "\", value) " +
      s"(names now: ${keys.mkString(", ")})"))

  def getOrElse(key: String, default: Any): Any = Option(values.get(key)).map(toScala).getOrElse(default)

  def getDataFrame(key: String): DataFrame = get(key) match {
    case frame: Dataset[_] => asDataFrame(frame)
    case other => throw new PyshimException(s"z.getDataFrame: '$key' is ${describe(other)}, not a DataFrame; " +
      "put a DataFrame there (in Python: a PySpark or pandas DataFrame; in Scala: a Dataset), or read it with z.get")
  }

  /** For Python: the stored Java object as is (a typed Dataset as its DataFrame, which PySpark wraps). */
  def getJava(key: String): AnyRef = values.get(key) match {
    case frame: Dataset[_] => asDataFrame(frame)
    case other => other
  }
  def contains(key: String): Boolean = values.containsKey(key)
  def remove(key: String): Unit = values.remove(key)
  def keys: Seq[String] = values.keySet().asScala.toSeq.sorted
  def keyList(): java.util.List[String] = keys.asJava

  /** The same object when it is a DataFrame already, so both languages hold one Dataset. */
  private def asDataFrame(frame: Dataset[_]): DataFrame =
    if (frame.encoder.clsTag.runtimeClass == classOf[Row]) frame.asInstanceOf[DataFrame] else frame.toDF()

  private def describe(value: Any): String = value match {
    case null => "null"
    case v => s"a ${v.getClass.getName}"
  }

  private def toJava(value: Any): AnyRef = value match {
    case null => null
    case m: scala.collection.Map[_, _] =>
      val out = new java.util.LinkedHashMap[AnyRef, AnyRef]()
      m.foreach { case (k, v) => out.put(toJava(k), toJava(v)) }
      out
    case s: scala.collection.Iterable[_] => new java.util.ArrayList[AnyRef](s.map(toJava).toSeq.asJava)
    case a: Array[_] => new java.util.ArrayList[AnyRef](a.toSeq.map(toJava).asJava)
    case other => other.asInstanceOf[AnyRef]
  }

  private def toScala(value: AnyRef): Any = value match {
    case m: java.util.Map[_, _] => m.asScala.map { case (k, v) => toScala(k.asInstanceOf[AnyRef]) -> toScala(v.asInstanceOf[AnyRef]) }.toMap
    case l: java.util.List[_] => l.asScala.map(v => toScala(v.asInstanceOf[AnyRef])).toList
    case other => other
  }
}

/** `z` in Scala cells: `import pyshim.z; z.put("n", 3); z.get("n")`. */
object z {
  def put(key: String, value: Any): Unit = Shared.put(key, value)
  def get(key: String): Any = Shared.get(key)
  def getOrElse(key: String, default: Any): Any = Shared.getOrElse(key, default)
  def getDataFrame(key: String): org.apache.spark.sql.DataFrame = Shared.getDataFrame(key)
  def keys: Seq[String] = Shared.keys
  def remove(key: String): Unit = Shared.remove(key)
}
