"""Go text/template syntax for workflows, sinks and conditions, run in Jinja's sandbox.

Templates are written the way the design document and Helm users write them
(``{{ .source.data.alert.alertname }}``, ``{{ .x | default false }}``,
``{{ range $key, $value := .workflow.outputs }}``); they are compiled once into Jinja2
source and rendered in ``ImmutableSandboxedEnvironment``. Data is never parsed as a
template, missing paths render as "" and are false, and shell commands are rendered with
every value moved into an environment variable (:func:`render_shell_script`).

Modules, in the order a template goes through them: ``lexer`` → ``parser`` (``nodes``) →
``compiler`` → ``template`` (cache, sandbox, render); ``functions``/``gofmt``/``values``
hold the semantics of the functions and values; ``shell`` renders commands.
"""

from punching_fist.templating.shell import ShellScript, render_shell_script
from punching_fist.templating.template import (
    Template,
    compile_template,
    evaluate_condition,
    render,
    render_value,
)
from punching_fist.templating.values import is_truthy

__all__ = [
    "ShellScript",
    "Template",
    "compile_template",
    "evaluate_condition",
    "is_truthy",
    "render",
    "render_shell_script",
    "render_value",
]
