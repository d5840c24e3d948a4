"""The semantic model: what a name or expression is (Module, Parameter, optimizer...), within a file and across the project."""
