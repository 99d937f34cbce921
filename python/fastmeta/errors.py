"""fastmeta's exceptions.

Every error fastmeta raises on bad input derives from :class:`Error` and from the
builtin a caller would expect (``ValueError``, ``FileNotFoundError``, ``KeyError``...),
so ``except ValueError`` keeps working for code written against TensorFlow.
Messages name the file, the byte offset, the node or the collection key concerned.
"""

from __future__ import annotations

__all__ = [
    "CollectionError",
    "CollectionIndexError",
    "CollectionRuntimeError",
    "CollectionTypeError",
    "CollectionValueError",
    "Error",
    "FileChangedError",
    "FileError",
    "FileParseError",
    "FunctionBodyError",
    "FunctionLibraryError",
    "GraphError",
    "GraphTypeError",
    "GraphVersionError",
    "InputMapError",
    "InputMapOverflowError",
    "InputMapTypeError",
    "MetaGraphNotFoundError",
    "ParseError",
    "SavedModelError",
    "SavedModelIndexError",
    "SavedModelNotFoundError",
    "SavedModelParseError",
    "SavedModelTypeError",
    "SavedModelValueError",
    "ScopeError",
    "SizeLimitError",
    "TagsNotFoundError",
]


class Error(Exception):
    """Base class of every fastmeta error."""


class ParseError(Error, ValueError):
    """Malformed input: bad wire data, a text-format syntax error, the wrong message.

    ``offset`` is the byte offset of the problem in the input (None when unknown) and
    ``path`` the file it came from (None for in-memory input).
    """

    def __init__(self, message: str, offset: int | None = None, path: str | None = None):
        super().__init__(message)
        self.offset = offset
        self.path = path

    def __str__(self) -> str:
        text = super().__str__()
        if self.path is not None and self.path not in text:
            return f"{self.path}: {text}"
        return text

    @property
    def reason(self) -> str:
        """The message without its closing ``(at byte offset N)``: what went wrong, for a
        message about a larger input this one's bytes lie in (at another offset)."""
        return str(self).removesuffix(f" (at byte offset {self.offset})")


class FileParseError(ParseError, OSError):
    """A meta graph file (given by its path) whose bytes parse neither as a binary nor as
    a text-format MetaGraphDef: a :class:`ParseError` that is also an ``OSError``, as
    TensorFlow's reader raises ``OSError("Cannot parse file ...")`` there. (The same
    bytes given as ``bytes`` or a buffer are a plain :class:`ParseError`.)"""


class GraphError(Error, ValueError):
    """A well-formed graph TensorFlow would refuse: duplicate or invalid names,
    unknown inputs, cycles, colocation with unknown nodes. ``node`` names the node."""

    def __init__(self, message: str, node: str | None = None):
        super().__init__(message)
        self.node = node


class GraphTypeError(GraphError, TypeError):
    """A return element TensorFlow refuses with a ``TypeError`` (an output index that is
    no C ``int``, ``x:99999999999``, which its binding cannot take): a
    :class:`GraphError` that is also a ``TypeError``."""


class GraphVersionError(GraphError):
    """A GraphDef whose ``versions`` TensorFlow's importer refuses (``CheckVersions``): a
    producer below the oldest it reads, a ``min_consumer`` above its own GraphDef
    version, or its version among the ``bad_consumers``. ``versions`` is the file's
    VersionDef."""

    def __init__(self, message: str, versions: object = None):
        super().__init__(message)
        self.versions = versions


class FunctionLibraryError(GraphError):
    """A function library TensorFlow refuses as it adds it to the graph: a function named
    like a registered op, or like a different function the graph (or the library)
    already holds; a second, different gradient for one function (in the library, or
    against the graph's); a gradient entry naming a function the library lacks; every
    function of the library with a gradient (a cycle). ``function`` names the function
    concerned (for a missing one, the name missing)."""

    def __init__(self, message: str, function: str | None = None):
        super().__init__(message, function)
        self.function = function


class FunctionBodyError(GraphError):
    """A library function a node calls whose body TensorFlow's importer refuses when it
    instantiates it (an op it does not know, a type or number attr it cannot find, an
    input or ``ret`` that names nothing, an input of another dtype), also in a call
    inside a called body. ``node`` is the calling node as the file names it, ``function``
    the function refused, ``calls`` the chain of functions from the one ``node`` calls to
    it, ``body_node`` the node of its body named (None for its signature or returns)."""

    def __init__(
        self,
        message: str,
        node: str | None = None,
        function: str | None = None,
        calls: tuple[str, ...] = (),
        body_node: str | None = None,
    ):
        super().__init__(message, node)
        self.function = function
        self.calls = calls
        self.body_node = body_node


class InputMapError(Error, ValueError):
    """An ``input_map`` that does not fit the graph (keys not used, bad values)."""


class InputMapTypeError(InputMapError, TypeError):
    """An ``input_map`` TensorFlow refuses with a ``TypeError`` (not a dict, a key that
    is not a string, a value that converts to no tensor, such as an Operation): an
    :class:`InputMapError` that is also a ``TypeError``."""


class InputMapOverflowError(InputMapError, OverflowError):
    """An ``input_map`` value TensorFlow refuses with numpy's ``OverflowError`` (a
    Python int too large for the dtype it is packed to): an :class:`InputMapError` that
    is also an ``OverflowError``."""


class ScopeError(Error, ValueError):
    """An import scope TensorFlow would reject (characters outside its name rules)."""


class SizeLimitError(Error, ValueError):
    """Input over protobuf's 2 GiB message limit."""


class FileError(Error, OSError):
    """A file that exists but cannot be read."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class FileChangedError(FileError):
    """A memory-mapped file that another process truncated or wrote to while fastmeta
    was reading it (its pages past the new end read as zeros instead of killing the
    process with SIGBUS). Nothing computed from it is returned, and an import leaves the
    graph unchanged. ``path`` is the file. Replace such files by renaming a complete
    new file over them, as TensorFlow's writers do."""


class MetaGraphNotFoundError(FileError, FileNotFoundError):
    """The meta graph file does not exist."""


class CollectionError(Error, KeyError):
    """A collection entry that does not resolve in the imported graph.
    ``key`` is the collection key and ``name`` the entry."""

    def __init__(self, message: str, key: str | None = None, name: str | None = None):
        super().__init__(message)
        self.key = key
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CollectionValueError(CollectionError, ValueError):
    """A collection entry TensorFlow refuses with a ``ValueError`` (a VariableDef with an
    invalid synchronization or aggregation, two variables of one name for the Saver):
    a :class:`CollectionError` that is also a ``ValueError``."""


class CollectionTypeError(CollectionError, TypeError):
    """A collection entry TensorFlow refuses with a ``TypeError``: in a file without a
    saver_def, an entry of ``variables`` or ``saveable_objects`` that is no variable (a
    tensor no variable op makes, an operation), over which TensorFlow's fresh ``Saver()``
    cannot be built; also an item there with no name at all (a string or a number, where
    TensorFlow's Saver fails with an ``AttributeError``). A :class:`CollectionError` that
    is also a ``TypeError``."""


class CollectionRuntimeError(CollectionError, RuntimeError):
    """A collection entry TensorFlow refuses with a ``RuntimeError``: in a file without a
    saver_def, a ref variable whose VariableDef names its op (``r``, not ``r:0``), which
    TensorFlow's fresh ``Saver()`` fails to convert to a tensor. A
    :class:`CollectionError` that is also a ``RuntimeError``."""


class CollectionIndexError(CollectionError, IndexError):
    """A collection entry TensorFlow refuses with an ``IndexError``: in a file without a
    saver_def, a ``node_list`` item of ``variables`` or ``saveable_objects`` naming the
    output of a resource handle op (``VarHandleOp``), whose handle TensorFlow's fresh
    ``Saver()`` looks for in the op's (absent) first input. A :class:`CollectionError`
    that is also an ``IndexError``."""


class SavedModelNotFoundError(FileError, FileNotFoundError):
    """No ``saved_model.pb`` nor ``saved_model.pbtxt`` in the SavedModel directory (or no
    such directory). ``path`` is the directory."""


class SavedModelParseError(ParseError, OSError):
    """A ``saved_model.pb``/``.pbtxt`` that cannot be parsed: a :class:`ParseError` naming
    the file and byte offset, also an ``OSError`` (TensorFlow's loader raises ``IOError``)."""

    def __init__(self, message: str, offset: int | None = None, path: str | None = None):
        ParseError.__init__(self, message, offset, path)


class SavedModelError(Error, RuntimeError):
    """A SavedModel TensorFlow's loader refuses with a ``RuntimeError`` (no meta graph with
    the tags asked for, not exactly one init op in its collection) or cannot finish
    (an init op named by the ``__saved_model_init_op`` signature that is not in the graph)."""


class SavedModelTypeError(SavedModelError, TypeError):
    """A SavedModel TensorFlow's loader refuses with a ``TypeError``: an init op (the
    ``__saved_model_init_op`` signature's output, or the ``saved_model_main_op``
    collection's entry) naming a tensor, not an operation; TensorFlow's loader takes its
    truth value, which a graph tensor has none of. A :class:`SavedModelError` that is also
    a ``TypeError``."""


class SavedModelValueError(SavedModelError, ValueError):
    """A SavedModel whose ``__saved_model_init_op`` signature names no valid tensor or
    op name (``y:0:1``): TensorFlow's loader raises the ``ValueError`` of its lookup. A
    :class:`SavedModelError` that is also a ``ValueError``."""


class SavedModelIndexError(SavedModelError, IndexError):
    """A SavedModel whose ``saved_model_main_op`` or ``legacy_init_op`` collection the
    import did not restore (``restore_collections_predicate`` left it out): TensorFlow's
    loader takes the first item of the empty collection, an ``IndexError``. A
    :class:`SavedModelError` that is also an ``IndexError``."""


class TagsNotFoundError(SavedModelError):
    """No meta graph of the SavedModel has exactly the tags asked for. ``tags`` are the
    tags asked for, ``available`` the tag sets of the file's meta graphs, in file order."""

    def __init__(self, message: str, tags: frozenset[str], available: list[set[str]]):
        super().__init__(message)
        self.tags = tags
        self.available = available
