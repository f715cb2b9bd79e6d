"""The MAL compiler: MAL files → :class:`LanguageSpec` (langspec.json layout in and out)."""

from breachpath.lang.compiler import compile_file, compile_text
from breachpath.lang.spec import LanguageSpec, from_langspec, read_langspec
from breachpath.lang.syntax import LangError

__all__ = ["LangError", "LanguageSpec", "compile_file", "compile_text", "from_langspec", "read_langspec"]
