package pyshim

import java.util.concurrent.ConcurrentHashMap

import scala.collection.JavaConverters._

import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.analysis.UnresolvedAttribute
import org.apache.spark.sql.catalyst.expressions.{Cast, CreateArray, ElementAt, Expression, ExpressionInfo, GetStructField, If,
  InheritAnalysisRules, IsNaN, IsNull, Literal, Or, RuntimeReplaceable}
import org.apache.spark.sql.execution.python.UserDefinedPythonFunction
import org.apache.spark.sql.types._

/** One model input from the signature; dataType None means "any" (no signature). */
final case class InputSpec(name: String, dataType: Option[DataType]) {
  def describe: String = dataType.map(t => s"$name ${t.simpleString}").getOrElse(name)
}

/** A model function: runs `udf` in Python workers, or `native` (a Spark SQL expression over the inputs' names). */
final class ModelFunction(val name: String, val udf: UserDefinedPythonFunction,
                          val inputs: Seq[InputSpec], val positional: Boolean,
                          val native: Option[NativeBody] = None, val registration: Long = -1L)

/**
 * What one registration was (a name registered again is a new one): what lineage records of
 * a query that called it, found from the plan even after the name moved to another version.
 * `about` holds model_uri, version, run_id, model_id, registered_model, runs (see Describe).
 */
final case class Registration(id: Long, name: String, native: Boolean, about: Map[String, String])

/** A model compiled to Spark SQL (pyshim/native): the parsed expression and its result type. */
final case class NativeBody(expression: Expression, resultType: DataType)

/**
 * A call of a native model function: shows (and names its result column) as `wine(a, b, c)`,
 * while the analyzer and optimizer see the compiled expression it stands for.
 */
case class NativeModelCall(functionName: String, parameters: Seq[Expression], replacement: Expression,
                           registration: Long = -1L)
  extends RuntimeReplaceable with InheritAnalysisRules {
  override def prettyName: String = functionName
  override protected def withNewChildInternal(newChild: Expression): Expression = copy(replacement = newChild)
}

/**
 * What DESCRIBE FUNCTION [EXTENDED] shows of a model function, in Spark's own metadata
 * (ExpressionInfo). Fields (all strings; missing ones are left out): model_uri, resolved
 * ("version 3, run ab12"), result_type (DDL), runs ("Python workers" or "native Spark SQL").
 * The registration time is added here.
 */
object Describe {
  def info(name: String, inputs: Seq[InputSpec], about: Map[String, String], source: String = "python_udf"): ExpressionInfo = {
    val args = inputs.map(_.describe).mkString(", ")
    val model = about.get("model_uri").map(u => s"MLflow model $u" + about.get("resolved").map(r => s" ($r)").getOrElse(""))
    val usage = s"_FUNC_($args) - ${model.getOrElse("a model function")}" +
      about.get("result_type").map(t => s"; returns $t").getOrElse("") + "."
    val arguments = if (inputs.isEmpty) "" else
      inputs.map(i => s"      * ${i.name} - ${i.dataType.map(_.simpleString).getOrElse("any (positional)")}")
        .mkString("\n    Arguments:\n", "\n", "\n")
    val facts = Seq("model" -> about.get("model_uri"), "resolved" -> about.get("resolved"),
      "result" -> about.get("result_type"), "runs in" -> about.get("runs"),
      "registered" -> Some(java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString))
      .collect { case (k, Some(v)) => s"$k: $v" }
    val note = facts.mkString("\n    ", "\n      ", "\n  ")
    new ExpressionInfo(classOf[ModelFunction].getName, null, name, usage, arguments, "", note, "", "", "", source)
  }
}

/**
 * Model functions live in Spark's function registry with a builder of ours, so a call is
 * checked when the query is analysed (before any job): the number of inputs and their types
 * against the model's signature, with a short message. Numeric inputs are widened to the
 * signature's type. Before building, the sidecar is checked and restarted when it died.
 */
object Functions {
  private val current = new ConcurrentHashMap[String, ModelFunction]()
  private val registrations = new ConcurrentHashMap[java.lang.Long, Registration]()
  // A Python model function's calls carry its PythonFunction object: the key to its registration.
  private val byPythonFunction = java.util.Collections.synchronizedMap(new java.util.IdentityHashMap[AnyRef, java.lang.Long]())
  private val ids = new java.util.concurrent.atomic.AtomicLong()
  @volatile var beforeCall: () => Unit = () => ()

  def registration(id: Long): Option[Registration] = Option(registrations.get(id))
  def registrationOf(pythonFunction: AnyRef): Option[Registration] =
    Option(byPythonFunction.get(pythonFunction)).flatMap(id => registration(id))

  private def remember(name: String, native: Boolean, about: java.util.Map[String, String]): Long = {
    val id = ids.incrementAndGet()
    val registered = java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString
    registrations.put(id, Registration(id, name, native, about.asScala.toMap + ("registered" -> registered)))
    id
  }

  /** Called from Python. Returns true when the name was already a model function. */
  def register(spark: SparkSession, name: String, udf: UserDefinedPythonFunction,
               inputNames: java.util.List[String], inputTypes: java.util.List[String],
               positional: Boolean): Boolean =
    register(spark, name, udf, inputNames, inputTypes, positional, new java.util.HashMap[String, String]())

  /** The same, with what DESCRIBE FUNCTION shows (see Describe for the fields of `about`). */
  def register(spark: SparkSession, name: String, udf: UserDefinedPythonFunction,
               inputNames: java.util.List[String], inputTypes: java.util.List[String],
               positional: Boolean, about: java.util.Map[String, String]): Boolean = {
    val specs = inputNames.asScala.zip(inputTypes.asScala).map { case (n, t) =>
      InputSpec(n, if (t == null || t.isEmpty) None else Some(DataType.fromDDL(t)))
    }.toSeq
    val replaced = current.containsKey(name)
    val id = remember(name, native = false, about)
    byPythonFunction.put(udf.func, id)
    current.put(name, new ModelFunction(name, udf, specs, positional, registration = id))
    spark.sessionState.functionRegistry.registerFunction(TempFunctions.identifier(name),
      Describe.info(name, specs, about.asScala.toMap), (args: Seq[Expression]) => build(name, args))
    replaced
  }

  /**
   * Called from Python for a model compiled to Spark SQL: `expression` refers to the inputs by
   * name and is parsed once here; calls get the same checks as a Python model function.
   */
  def registerNative(spark: SparkSession, name: String, expression: String,
                     inputNames: java.util.List[String], inputTypes: java.util.List[String],
                     resultType: String): Boolean =
    registerNative(spark, name, expression, inputNames, inputTypes, resultType,
      java.util.Map.of("runs", "native Spark SQL", "result_type", resultType))

  /** The same, with what DESCRIBE FUNCTION shows (see Describe for the fields of `about`). */
  def registerNative(spark: SparkSession, name: String, expression: String,
                     inputNames: java.util.List[String], inputTypes: java.util.List[String],
                     resultType: String, about: java.util.Map[String, String]): Boolean = {
    val specs = inputNames.asScala.zip(inputTypes.asScala).map { case (n, t) => InputSpec(n, Some(DataType.fromDDL(t))) }.toSeq
    val body = NativeBody(spark.sessionState.sqlParser.parseExpression(expression), DataType.fromDDL(resultType))
    val replaced = current.containsKey(name)
    val id = remember(name, native = true, about)
    current.put(name, new ModelFunction(name, null, specs, positional = false, native = Some(body), registration = id))
    spark.sessionState.functionRegistry.registerFunction(TempFunctions.identifier(name),
      Describe.info(name, specs, about.asScala.toMap, "scala_udf"), (args: Seq[Expression]) => build(name, args))
    replaced
  }

  def isNative(name: String): Boolean = Option(current.get(name)).exists(_.native.isDefined)

  def isRegistered(name: String): Boolean = current.containsKey(name)
  def names(): java.util.List[String] = current.keySet().asScala.toSeq.sorted.asJava

  private def build(name: String, args: Seq[Expression]): Expression = {
    val fn = current.get(name)
    fn.native match {
      case Some(body) => nativeCall(fn, body, checkArgs(fn, args))
      case None =>
        beforeCall()  // only Python functions need the sidecar
        fn.udf.builder(checkArgs(fn, args))
    }
  }

  /** The compiled expression over the checked arguments; NULL when any input is NULL or NaN, as in Python. */
  private def nativeCall(fn: ModelFunction, body: NativeBody, args: Seq[Expression]): Expression = {
    val byName = fn.inputs.map(_.name.toLowerCase).zip(args).toMap
    val scored = body.expression.transformUp {
      case a: UnresolvedAttribute if a.nameParts.size == 1 && byName.contains(a.name.toLowerCase) => byName(a.name.toLowerCase)
    }
    val missing = args.flatMap { a =>
      IsNull(a) +: (a.dataType match {
        case DoubleType | FloatType => Seq(IsNaN(a))
        case _ => Nil
      })
    }.reduceOption[Expression](Or)
    val typed = Cast(scored, body.resultType)
    NativeModelCall(fn.name, args, missing.fold[Expression](typed)(nullWhen(_, typed)), fn.registration)
  }

  /**
   * `value`, or NULL where `missing` holds, with `value` computed on every row. Not
   * If(missing, NULL, value): Spark's subexpression elimination skips the branches of a
   * conditional, and a compiled classifier repeats each class score in every comparison;
   * measured on 1M rows (bench/README.md): multiclass logistic 4.23 s inside If, 0.32 s
   * here, 0.46 s bare; a depth-3 decision tree classifier 1.38 s, 0.23 s, 0.30 s.
   * The NULL is an element of the array, never a NULL index: under ANSI mode (Spark 4's
   * default) element_at takes its nullability from the array alone, so a NULL index over a
   * never-NULL value (a tree's literal leaves) was typed NOT NULL and read back as 0.0.
   */
  private def nullWhen(missing: Expression, value: Expression): Expression =
    ElementAt(CreateArray(Seq(value, Literal(null, value.dataType))), If(missing, Literal(2), Literal(1)))

  def checkArgs(fn: ModelFunction, given: Seq[Expression]): Seq[Expression] = {
    val args = expandStruct(fn, given)
    if (fn.positional) return args
    if (args.size != fn.inputs.size) throw arityError(fn, given)
    fn.inputs.zip(args).zipWithIndex.map { case ((spec, arg), i) => coerce(fn, spec, arg, i) }
  }

  /** wine(struct(a, b, c)) or wine(struct(*)) is the same as wine(a, b, c). */
  private def expandStruct(fn: ModelFunction, args: Seq[Expression]): Seq[Expression] = args match {
    case Seq(single) if fn.inputs.size != 1 && isStruct(single) =>
      val fields = single.dataType.asInstanceOf[StructType].fieldNames
      val byName = fn.inputs.map(s => fields.indexWhere(_.equalsIgnoreCase(s.name)))
      val order = if (byName.forall(_ >= 0)) byName else fields.indices
      order.map(i => GetStructField(single, i, Some(fields(i))))
    case other => other
  }

  private def isStruct(e: Expression): Boolean = scala.util.Try(e.dataType.isInstanceOf[StructType]).getOrElse(false)

  private def coerce(fn: ModelFunction, spec: InputSpec, arg: Expression, index: Int): Expression =
    spec.dataType match {
      case None => arg
      case Some(want) =>
        val got = arg.dataType
        if (got == want || got == NullType) arg
        else if (widens(got, want)) Cast(arg, want)
        else throw new PyshimException(
          s"${fn.name} expects ${fn.inputs.size} inputs (${fn.inputs.map(_.describe).mkString(", ")}); " +
          s"input ${index + 1} (${spec.name}) must be ${want.simpleString} but got ${got.simpleString} " +
          s"from ${arg.sql}. Cast it: CAST(${arg.sql} AS ${want.sql}).")
    }

  private def widens(from: DataType, to: DataType): Boolean = (from, to) match {
    case (_: NumericType, DoubleType | FloatType) => true
    case (ByteType | ShortType | IntegerType, LongType) => true
    case (ByteType | ShortType, IntegerType) => true
    case (_: NumericType, _: DecimalType) => true
    case _ => false
  }

  private def arityError(fn: ModelFunction, given: Seq[Expression]): PyshimException = {
    val got = given.map(e => scala.util.Try(s"${e.sql} ${e.dataType.simpleString}").getOrElse(e.sql))
    new PyshimException(
      s"${fn.name} expects ${fn.inputs.size} inputs (${fn.inputs.map(_.describe).mkString(", ")}), " +
      s"got ${given.size}${if (got.isEmpty) "" else got.mkString(": (", ", ", ")")}. " +
      s"Pass the columns in signature order, or one struct(...) of them.")
  }
}
