"""The bodies of called library functions, checked as TensorFlow's importer checks them
(tests/TF_BEHAVIOUR.md §6c), on the TF-free import, ``rewrite_meta_graph`` and the
drop-in, against TensorFlow's ``import_meta_graph`` of the same bytes.

TensorFlow instantiates the body of each function a node calls (its op is the function,
or a ``PartitionedCall``/``StatefulPartitionedCall`` names it in ``f``), and the calls in
that body in turn, and refuses a body it cannot instantiate; functions nothing calls, or
only ``If`` branches name, are not instantiated. Each case is imported by both:

* same accept/refuse;
* a refusal on the TF-free paths is a :class:`fastmeta.FunctionBodyError` (a
  ``GraphError``, so a ``ValueError``) naming the calling node (as the file names it) and
  the function refused, with TensorFlow's reason (its message exactly, except where
  fastmeta deliberately words it otherwise: an op type neither knows, a signature
  summary), and the fastmeta.Graph exactly as it was;
* the drop-in raises TensorFlow's own error.

TensorFlow raises ``NotFoundError`` (no ``ValueError``) for an attr or op it cannot find;
fastmeta raises its ``FunctionBodyError`` for every refusal (documented).
"""

from __future__ import annotations

import os
from typing import Any

import fastmeta
import pytest
from fastmeta.protos import meta_graph_pb2
from google.protobuf import text_format

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# --- building blocks (text format) -------------------------------------------------------

FLOAT = "type: DT_FLOAT"


def _const(
    name: str,
    dtype: str = "DT_FLOAT",
    value: str = "float_val: 1 float_val: 2",
    shape: str = "dim { size: 2 }",
    *,
    body: bool = False,
) -> str:
    kind = "node_def" if body else "node"
    return (
        f'{kind} {{ name: "{name}" op: "Const" attr {{ key: "dtype" value {{ type: {dtype} }} }} '
        f'attr {{ key: "value" value {{ tensor {{ dtype: {dtype} tensor_shape {{ {shape} }} {value} }} }} }} }}\n'
    )


def _body(name: str, op: str, *inputs: str, attrs: str = f'attr {{ key: "T" value {{ {FLOAT} }} }}') -> str:
    ins = " ".join(f'input: "{i}"' for i in inputs)
    return f'node_def {{ name: "{name}" op: "{op}" {ins} {attrs} }}\n'


def _t(value: str) -> str:
    return f'attr {{ key: "T" value {{ {value} }} }}'


def _function(name: str, body: str, ret: str | None = "i:output:0", *, sig_attrs: str = "", extra: str = "") -> str:
    """A function x: float -> y: float (``sig_attrs``: attrs its signature declares)."""
    rets = "" if ret is None else f'ret {{ key: "y" value: "{ret}" }}'
    return (
        f'function {{ signature {{ name: "{name}" input_arg {{ name: "x" {FLOAT} }} '
        f'output_arg {{ name: "y" {FLOAT} }} {sig_attrs} }} {body} {rets} {extra} }}\n'
    )


T_ATTR = 'attr { name: "T" type: "type" }'
F_ATTRS = f'attr {{ key: "T" value {{ {FLOAT} }} }}'


def _direct(fn: str = "F", name: str = "call", attrs: str = F_ATTRS, source: str = "c") -> str:
    return f'node {{ name: "{name}" op: "{fn}" input: "{source}" {attrs} }}\n'


def _pc(
    fn: str = "F", name: str = "call", op: str = "PartitionedCall", f_attrs: str = F_ATTRS, source: str = "c"
) -> str:
    return (
        f'node {{ name: "{name}" op: "{op}" input: "{source}" '
        f'attr {{ key: "Tin" value {{ list {{ {FLOAT} }} }} }} attr {{ key: "Tout" value {{ list {{ {FLOAT} }} }} }} '
        f'attr {{ key: "f" value {{ func {{ name: "{fn}" {f_attrs} }} }} }} }}\n'
    )


def _if(fn: str = "F") -> str:
    return (
        _const("p", "DT_BOOL", "bool_val: true", "")
        + f'node {{ name: "cond" op: "If" input: "p" input: "c" attr {{ key: "Tcond" value {{ type: DT_BOOL }} }} '
        f'attr {{ key: "Tin" value {{ list {{ {FLOAT} }} }} }} attr {{ key: "Tout" value {{ list {{ {FLOAT} }} }} }} '
        f'attr {{ key: "then_branch" value {{ func {{ name: "{fn}" {F_ATTRS} }} }} }} '
        f'attr {{ key: "else_branch" value {{ func {{ name: "{fn}" {F_ATTRS} }} }} }} }}\n'
    )


IDENTITY = _body("i", "Identity", "x", attrs=_t('placeholder: "T"'))
GOOD = _function("F", IDENTITY, sig_attrs=T_ATTR)
SPLIT = _const("dim", "DT_INT32", "int_val: 0", "", body=True) + _body(
    "s", "Split", "dim:output:0", "x", attrs=_t(FLOAT) + ' attr { key: "num_split" value { i: 2 } }'
)
INT_C = _const("k", "DT_INT32", "int_val: 1", "", body=True)
NOP = _body("nop", "NoOp", attrs="")


def _g_calls(inner: str) -> str:
    """G: x -> y whose body calls ``inner`` directly (``n``) and through a PartitionedCall (``p``)."""
    body = _body("n", inner, "x", attrs=F_ATTRS) + (
        f'node_def {{ name: "p" op: "PartitionedCall" input: "n:y:0" '
        f'attr {{ key: "Tin" value {{ list {{ {FLOAT} }} }} }} attr {{ key: "Tout" value {{ list {{ {FLOAT} }} }} }} '
        f'attr {{ key: "f" value {{ func {{ name: "{inner}" {F_ATTRS} }} }} }} }}\n'
    )
    return _function("G", body, "p:output:0")


# Each case: (graph nodes, library functions). Whether TensorFlow accepts it is asked of
# TensorFlow, never written here.
CASES: dict[str, tuple[str, str]] = {
    # accepted
    "direct": (_direct(), GOOD),
    "partitioned_call": (_pc(), GOOD),
    "stateful_partitioned_call": (_pc(op="StatefulPartitionedCall"), GOOD),
    "nested_direct_and_partitioned": (_pc("G", f_attrs=""), GOOD + _g_calls("F")),
    "multi_output_split": (
        _direct(),
        _function("F", SPLIT + _body("i", "Identity", "s:output:1", attrs=_t(FLOAT)), sig_attrs=T_ATTR),
    ),
    "list_output_identity_n": (
        _direct(),
        _function(
            "F",
            _body("n", "IdentityN", "x", "x", attrs=_t(f"list {{ {FLOAT} {FLOAT} }}"))
            + _body("m", "IdentityN", "n:output", attrs=_t(f"list {{ {FLOAT} {FLOAT} }}")),
            "m:output:1",
        ),
    ),
    "arg_with_index": (_direct(), _function("F", _body("i", "Identity", "x:0", attrs=_t(FLOAT)))),
    "ret_is_the_arg": (_direct(), _function("F", "", "x")),
    "control_inputs": (
        _direct(),
        _function(
            "F", SPLIT + NOP + _body("i", "Identity", "x", "^s", "^x", "^nop", attrs=_t(FLOAT)), sig_attrs=T_ATTR
        ),
    ),
    "number_attr_add_n": (
        _direct(),
        _function("F", _body("i", "AddN", "x", "x", attrs=_t(FLOAT) + ' attr { key: "N" value { i: 2 } }'), "i:sum:0"),
    ),
    "default_attr_of_body_op": (
        _direct(),
        _function(
            "F",
            _body("s", "Shape", "x", attrs=_t(FLOAT))
            + _body(
                "i",
                "Cast",
                "s:output:0",
                attrs='attr { key: "SrcT" value { type: DT_INT32 } } attr { key: "DstT" value { type: DT_FLOAT } }',
            ),
            "i:y:0",
        ),
    ),
    "extra_ret_key": (
        _direct(),
        _function("F", IDENTITY, sig_attrs=T_ATTR, extra='ret { key: "z" value: "i:output:0" }'),
    ),
    "uncalled_bad_function": (_const("c"), _function("F", _body("i", "Identity", "x", attrs=""))),
    "bad_function_only_in_if_branches": (
        _if(),
        _function("F", _body("i", "Identity", "x", attrs=""), sig_attrs=T_ATTR),
    ),
    "bad_function_called_only_by_an_uncalled_one": (
        _direct("F"),
        GOOD
        + _function("Uncalled", _body("i", "Inner", "x", attrs=""))
        + _function("Inner", _body("i", "NoSuchOp", "x", attrs="")),
    ),
    # refused
    "type_attr_missing_direct": (_direct(), _function("F", _body("i", "Identity", "x", attrs=""))),
    "type_attr_missing_partitioned": (_pc(), _function("F", _body("i", "Identity", "x", attrs=""))),
    "type_attr_missing_nested": (
        _pc("G", f_attrs=""),
        _g_calls("F") + _function("F", _body("i", "Identity", "x", attrs="")),
    ),
    "number_attr_missing": (_direct(), _function("F", _body("i", "AddN", "x", "x", attrs=_t(FLOAT)), "i:sum:0")),
    "type_list_attr_missing": (_direct(), _function("F", _body("n", "IdentityN", "x", "x", attrs=""), "n:output:0")),
    "input_names_nothing": (_direct(), _function("F", _body("i", "Identity", "nope", attrs=_t(FLOAT)))),
    "input_output_index_out_of_range": (
        _direct(),
        _function("F", SPLIT + _body("i", "Identity", "s:output:2", attrs=_t(FLOAT))),
    ),
    "input_names_no_output_arg": (
        _direct(),
        _function("F", SPLIT + _body("i", "Identity", "s:nope:0", attrs=_t(FLOAT))),
    ),
    "input_node_without_output_arg": (_direct(), _function("F", SPLIT + _body("i", "Identity", "s", attrs=_t(FLOAT)))),
    "control_input_names_nothing": (_direct(), _function("F", _body("i", "Identity", "x", "^nope", attrs=_t(FLOAT)))),
    "control_input_first": (_direct(), _function("F", _body("i", "Identity", "^x", "x", attrs=_t(FLOAT)))),
    "too_many_data_inputs": (
        _direct(),
        _function("F", _body("i", "AddN", "x", "x", attrs=_t(FLOAT) + ' attr { key: "N" value { i: 1 } }'), "i:sum:0"),
    ),
    "too_few_inputs": (_direct(), _function("F", _body("i", "Sub", "x", attrs=_t(FLOAT)), "i:z:0")),
    "ret_names_nothing": (_direct(), _function("F", IDENTITY, "nope:output:0", sig_attrs=T_ATTR)),
    "ret_missing": (_direct(), _function("F", IDENTITY, None, sig_attrs=T_ATTR)),
    "ret_of_another_dtype": (_direct(), _function("F", INT_C, "k:output:0")),
    "unregistered_op": (_pc(), _function("F", _body("i", "NoSuchOp", "x", attrs=_t(FLOAT)))),
    "input_of_another_dtype": (
        _direct(),
        _function("F", INT_C + _body("i", "Identity", "k:output:0", attrs=_t(FLOAT))),
    ),
    "second_input_of_another_dtype": (
        _direct(),
        _function("F", INT_C + _body("i", "Sub", "x", "k:output:0", attrs=_t(FLOAT)), "i:z:0"),
    ),
    "list_input_of_another_dtype": (
        _direct(),
        _function(
            "F", _body("n", "IdentityN", "x", "x", attrs=_t("list { type: DT_FLOAT type: DT_INT32 }")), "n:output:0"
        ),
    ),
    "placeholder_not_bound": (
        _pc(),
        _function("F", _body("i", "Identity", "x", attrs=_t('placeholder: "U"')), sig_attrs=T_ATTR),
    ),
    "signature_attr_not_given": (
        _pc(f_attrs=""),
        _function("F", _body("i", "Identity", "x", attrs=_t(FLOAT)), sig_attrs=T_ATTR),
    ),
    "input_arg_type_attr_not_given": (
        _pc(f_attrs=""),
        'function { signature { name: "F" input_arg { name: "x" type_attr: "U" } '
        'output_arg { name: "y" type: DT_FLOAT } } '
        + _body("i", "Identity", "x", attrs=_t(FLOAT))
        + 'ret { key: "y" value: "i:output:0" } }',
    ),
    "duplicate_body_node": (_direct(), _function("F", _body("i", "Identity", "x", attrs=_t(FLOAT)) * 2)),
    "body_node_named_like_an_arg": (
        _direct(),
        _function("F", _body("x", "Identity", "x", attrs=_t(FLOAT)), "x:output:0"),
    ),
    "first_refused_caller_in_creation_order": (
        _const("d") + _pc("F2", name="a_call", source="b_call") + _direct("F", name="b_call", source="d"),
        _function("F", _body("i", "Identity", "nope", attrs=_t(FLOAT)))
        + _function("F2", _body("i", "Identity", "x", attrs="")),
    ),
}

# A call node whose shape inference is off (every call of a v1 Defun): TensorFlow does not
# instantiate what it calls (only the bool true counts).
DISABLED = 'attr { key: "_disable_call_shape_inference" value { b: true } }'
BAD = _function("F", _body("i", "Identity", "nope", attrs=_t(FLOAT)))


def _disabled_pc(attr: str = DISABLED, fn: str = "F", name: str = "call") -> str:
    return _pc(fn, name=name).replace('attr { key: "f"', attr + ' attr { key: "f"')


CASES.update(
    {
        "shape_inference_off_direct": (_direct(attrs=F_ATTRS + DISABLED), BAD),
        "shape_inference_off_partitioned_call": (_disabled_pc(), BAD),
        "shape_inference_off_false": (_direct(attrs=F_ATTRS + DISABLED.replace("true", "false")), BAD),
        "shape_inference_off_not_a_bool": (_direct(attrs=F_ATTRS + DISABLED.replace("b: true", "i: 1")), BAD),
        "shape_inference_off_in_a_body": (
            _pc("G", f_attrs=""),
            BAD + _function("G", _body("n", "F", "x", attrs=F_ATTRS + DISABLED), "n:y:0"),
        ),
        "shape_inference_off_for_one_caller_only": (
            _direct(attrs=F_ATTRS + DISABLED) + _pc("F", name="other"),
            BAD,
        ),
        "shape_inference_off_on_the_outer_call_only": (
            _disabled_pc(fn="G"),
            BAD + _function("G", _body("n", "F", "x", attrs=F_ATTRS), "n:y:0"),
        ),
    }
)

# Where fastmeta words TensorFlow's reason otherwise (tests/TF_BEHAVIOUR.md §6c): the
# part of TensorFlow's message fastmeta's must hold.
REWORDED = {
    # TensorFlow names its binary and advises on tf.contrib; fastmeta names what it looked in.
    "unregistered_op": lambda m: m.split(" in binary")[0],
}


def _meta(case: str) -> bytes:
    nodes, library = CASES[case]
    if 'node { name: "c"' not in nodes and 'name: "c" op: "Const"' not in nodes:
        nodes = _const("c") + nodes
    mg = meta_graph_pb2.MetaGraphDef()
    text_format.Parse(nodes + "library { " + library + " }", mg.graph_def)
    return mg.SerializeToString(deterministic=True)


def _tf() -> Any:
    tf = pytest.importorskip("tensorflow")
    tf.compat.v1.disable_eager_execution()
    return tf


def _tf_outcome(data: bytes, importer: Any = None) -> tuple[type[BaseException] | None, str]:
    tf = _tf()
    importer = importer or tf.compat.v1.train.import_meta_graph
    with tf.Graph().as_default():
        try:
            importer(tf.compat.v1.MetaGraphDef.FromString(data), import_scope="imp")
        except Exception as e:
            return type(e), str(e)
    return None, ""


def _state(g: fastmeta.Graph) -> tuple[Any, ...]:
    return (
        g.as_graph_def().SerializeToString(deterministic=True),
        g.get_all_collection_keys(),
        [g.unique_name(n, mark_as_used=False) for n in ("imp", "c", "call")],
    )


def _fastmeta_refusal(data: bytes) -> fastmeta.FunctionBodyError | None:
    """The TF-free import into a graph that already holds an import: None, or its error,
    after checking that the graph is exactly as it was."""
    g = fastmeta.Graph()
    before_mg = meta_graph_pb2.MetaGraphDef()
    text_format.Parse(_const("c") + _const("call"), before_mg.graph_def)
    fastmeta.import_meta_graph(before_mg.SerializeToString(), graph=g)
    before = _state(g)
    try:
        fastmeta.import_meta_graph(data, graph=g, import_scope="imp")
    except fastmeta.FunctionBodyError as e:
        assert _state(g) == before, "a refused import changed the graph"
        return e
    return None


@pytest.mark.parametrize("case", sorted(CASES))
def test_called_function_bodies_as_tensorflow(case: str) -> None:
    data = _meta(case)
    tf_class, tf_message = _tf_outcome(data)
    error = _fastmeta_refusal(data)
    if tf_class is None:
        assert error is None, f"TensorFlow imports {case}; fastmeta refused: {error}"
        rewritten = fastmeta.rewrite_meta_graph(data, import_scope="imp")
        assert len(rewritten.graph_def.node) == len(meta_graph_pb2.MetaGraphDef.FromString(data).graph_def.node)
        return
    assert error is not None, f"TensorFlow refuses {case} ({tf_message!r}); fastmeta imported it"
    assert isinstance(error, fastmeta.GraphError) and isinstance(error, ValueError)
    reason = REWORDED.get(case, lambda m: m)(tf_message)
    assert reason in str(error), (str(error), tf_message)
    assert str(error).startswith(f"Node '{error.node}' (op ")
    assert f"function '{error.function}'" in str(error)
    assert error.calls and error.calls[-1] == error.function
    with pytest.raises(fastmeta.FunctionBodyError) as again:
        fastmeta.rewrite_meta_graph(data, import_scope="imp")
    assert str(again.value) == str(error)


def test_the_error_names_the_caller_the_chain_and_the_body_node() -> None:
    """What the error's fields hold, beside TensorFlow's refusal of the same case."""
    assert _tf_outcome(_meta("type_attr_missing_nested"))[0] is not None
    error = _fastmeta_refusal(_meta("type_attr_missing_nested"))
    assert error is not None
    assert (error.node, error.function, error.calls, error.body_node) == ("call", "F", ("G", "F"), "i")
    assert "function 'F' (called through 'G')" in str(error)
    assert _tf_outcome(_meta("first_refused_caller_in_creation_order"))[0] is not None
    first = _fastmeta_refusal(_meta("first_refused_caller_in_creation_order"))
    assert first is not None and (first.node, first.function) == ("b_call", "F")


@pytest.mark.parametrize("case", ["type_attr_missing_partitioned", "ret_names_nothing", "unregistered_op", "direct"])
def test_graph_util_import_graph_def_agrees(case: str) -> None:
    """``tf.graph_util.import_graph_def`` instantiates the same calls as
    ``import_meta_graph``."""
    tf = _tf()

    def via_graph_def(mg: Any, import_scope: str) -> Any:
        return tf.graph_util.import_graph_def(mg.graph_def, name=import_scope)

    data = _meta(case)
    assert _tf_outcome(data, via_graph_def) == _tf_outcome(data)


@pytest.mark.parametrize("case", ["type_attr_missing_nested", "input_of_another_dtype", "partitioned_call"])
def test_the_drop_in_raises_tensorflows_error(case: str) -> None:
    import fastmeta.tf as fmtf

    tf = _tf()
    data = _meta(case)
    expected = _tf_outcome(data)
    with tf.Graph().as_default():
        try:
            fmtf.import_meta_graph(tf.compat.v1.MetaGraphDef.FromString(data), import_scope="imp")
            got: tuple[type[BaseException] | None, str] = (None, "")
        except Exception as e:
            got = (type(e), str(e))
    assert got == expected


class _NoCore:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the core was asked for {name}")


def test_a_graph_without_a_library_costs_nothing() -> None:
    """No library: nothing of the core's result is read."""
    from fastmeta import _function_bodies

    _function_bodies.check_called_functions(_NoCore(), meta_graph_pb2.MetaGraphDef().graph_def.library, [])


def test_each_called_function_is_instantiated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two callers of one function with the same attrs, and a nested call of it: one
    instantiation."""
    from fastmeta import _function_bodies

    seen: list[str] = []
    original = _function_bodies._Checker.instantiate

    def counting(self: Any, fdef: Any, attrs: Any) -> Any:
        seen.append(fdef.signature.name)
        return original(self, fdef, attrs)

    monkeypatch.setattr(_function_bodies._Checker, "instantiate", counting)
    nodes = _pc(name="a") + _pc(name="b") + _pc("G", name="g", f_attrs="")
    mg = meta_graph_pb2.MetaGraphDef()
    text_format.Parse(_const("c") + nodes + "library { " + GOOD + _g_calls("F") + " }", mg.graph_def)
    fastmeta.import_meta_graph(mg.SerializeToString(), graph=fastmeta.Graph())
    assert sorted(seen) == ["F", "G"]


def _fastmeta_only(nodes: str, library: str) -> fastmeta.FunctionBodyError | None:
    mg = meta_graph_pb2.MetaGraphDef()
    text_format.Parse(_const("c") + nodes + "library { " + library + " }", mg.graph_def)
    return _fastmeta_refusal(mg.SerializeToString())


def test_a_recursive_function_is_accepted() -> None:
    """A function calling itself (TensorFlow 2.21 overflows its stack on it: not compared)
    is accepted, its body checked once; a bad body below the recursion is still found."""
    recursive = _function("F", _body("i", "F", "x", attrs=""), "i:y:0")
    assert _fastmeta_only(_direct(attrs=""), recursive) is None
    assert _fastmeta_only(_pc(f_attrs=""), recursive) is None
    bad = _function("F", _body("i", "F", "x", attrs="") + _body("j", "Identity", "nope", attrs=_t(FLOAT)), "i:y:0")
    error = _fastmeta_only(_direct(attrs=""), bad)
    assert error is not None and error.body_node == "j"


@pytest.mark.parametrize("count", [-1, 1 << 40])
def test_a_number_attr_out_of_range_is_refused_without_making_it(count: int) -> None:
    """An ``N`` TensorFlow would try to make that many elements of (or a negative one) is
    refused, not materialised (not compared: TensorFlow runs out of memory)."""
    body = _body("i", "AddN", "x", "x", attrs=_t(FLOAT) + f' attr {{ key: "N" value {{ i: {count} }} }}')
    error = _fastmeta_only(_direct(), _function("F", body, "i:sum:0"))
    assert error is not None and "number attr N of" in str(error) and error.body_node == "i"


def test_a_control_input_naming_an_output_arg() -> None:
    """``^n:out_arg`` names node ``n`` for TensorFlow's instantiation (it matches the
    index's ``n:out_arg`` entry): accepted by both."""
    data = _meta("direct")
    mg = meta_graph_pb2.MetaGraphDef.FromString(data)
    body = mg.graph_def.library.function[0].node_def
    body.add().CopyFrom(body[0])
    body[1].name = "j"
    body[1].input.append("^i:output")
    data = mg.SerializeToString(deterministic=True)
    assert _tf_outcome(data) == (None, "")
    assert _fastmeta_refusal(data) is None


@pytest.mark.parametrize("keep_attr", [True, False])
def test_a_v1_defun_call_does_not_instantiate_the_body(keep_attr: bool) -> None:
    """A real v1 Defun (its call node has ``_disable_call_shape_inference: true``) whose
    body no longer fits its signature: TensorFlow imports it; without the call's attr it
    instantiates the body and refuses it. The TF-free paths alike."""
    tf = _tf()
    from tensorflow.python.framework import function as tf_function

    v1 = tf.compat.v1
    with tf.Graph().as_default():

        @tf_function.Defun(tf.float32, func_name="FnA")
        def body(a: Any) -> Any:
            return a * 2.0

        tf.identity(body(v1.placeholder(tf.float32, [], name="x")), name="y")
        mg = meta_graph_pb2.MetaGraphDef.FromString(v1.train.export_meta_graph().SerializeToString())
    mg.graph_def.library.function[0].signature.input_arg[0].name = "b"  # the body still reads 'a'
    calls = [n for n in mg.graph_def.node if n.op == "FnA"]
    assert calls and all(n.attr["_disable_call_shape_inference"].b for n in calls)
    if not keep_attr:
        for n in calls:
            del n.attr["_disable_call_shape_inference"]
    data = mg.SerializeToString()
    tf_class, tf_message = _tf_outcome(data)
    error = _fastmeta_refusal(data)
    if keep_attr:
        assert tf_class is None and error is None
        fastmeta.rewrite_meta_graph(data)
    else:
        assert tf_class is not None and error is not None
        assert tf_message.splitlines()[0] in str(error) and error.function == "FnA"


def _call_chain(length: int, last_body: str) -> bytes:
    """F0 calls F1 ... calls F{length-1}, whose body is ``last_body``; node ``call`` calls F0."""
    library = "".join(
        _function(f"F{i}", _body("i", f"F{i + 1}", "x", attrs=""), "i:y:0") for i in range(length - 1)
    ) + _function(f"F{length - 1}", last_body)
    mg = meta_graph_pb2.MetaGraphDef()
    text_format.Parse(_const("c") + _direct("F0", attrs="") + "library { " + library + " }", mg.graph_def)
    return mg.SerializeToString()


def test_a_chain_of_calls_longer_than_python_s_recursion_limit() -> None:
    """Instantiation walks the calls on a stack of its own: a chain of 3000 calls imports as
    TensorFlow imports it (it raised a bare RecursionError), and a body refused at its far
    end is reported with the whole chain."""
    import sys

    length = max(3000, sys.getrecursionlimit() + 100)
    good = _call_chain(length, _body("i", "Identity", "x"))
    assert _tf_outcome(good) == (None, "")
    assert _fastmeta_refusal(good) is None
    assert len(fastmeta.rewrite_meta_graph(good, import_scope="imp").graph_def.library.function) == length
    bad = _call_chain(length, _body("i", "Identity", "nope"))
    assert _tf_outcome(bad)[0] is not None
    error = _fastmeta_refusal(bad)
    assert error is not None
    assert error.calls == tuple(f"F{i}" for i in range(length)) and error.body_node == "i"
