"""Notification rendering (chalicelib.services.notifications.render): defaults, user templates, the
sandbox and its bounds, and Webhook JSON. Pure: no server, no AWS."""
from __future__ import annotations

import copy
import json
import time
from decimal import Decimal

import pytest

from chalicelib.services.errors import ValidationError
from chalicelib.services.notifications import render
from chalicelib.services.notifications.render import SAMPLE_CONTEXT, VARIABLES, Rendered, RenderError


def context(**changes) -> dict:
    """SAMPLE_CONTEXT with some top-level variables replaced and `job` keys merged in (`job={...}`)."""
    ctx = copy.deepcopy(SAMPLE_CONTEXT)
    ctx["job"].update(changes.pop("job", {}))
    ctx.update(changes)
    return ctx


def email(body: str | None = None, subject: str | None = None) -> dict:
    return {"channel": "Email", "subject_template": subject, "body_template": body}


def webhook(body: str | None = None) -> dict:
    return {"channel": "Webhook", "body_template": body}


def refused_at_save(notification: dict) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        render.check(notification)
    return caught.value


def refused_at_send(notification: dict, ctx: dict = SAMPLE_CONTEXT) -> RenderError:
    with pytest.raises(RenderError) as caught:
        render.render(notification, ctx)
    return caught.value


# ---------------------------------------------------------------- defaults


def test_default_finished_message_lists_the_job_its_totals_and_failed_hosts():
    rendered = render.render(email(), SAMPLE_CONTEXT)
    assert rendered == Rendered(subject='[OpsGrat] Déploiement "prod" #42 failed', body=rendered.body)
    lines = rendered.body.splitlines()
    assert lines[0] == 'Déploiement "prod" #42 failed'
    for line in ("State: failed", 'Template: Déploiement "prod"', "Launched by: josé", 'Schedule: Nuit "prod" — 02:00',
                 "Elapsed: 132.4 s", "Totals: ok 15, changed 2, failures 1, unreachable 1, skipped 2",
                 "Failed hosts: db1.example.com, bäckup-01.example.com", "URL: https://opsgrat.example.com/api/job/job/42/"):
        assert line in lines
    assert "Workflow nodes:" not in lines


def test_default_started_message_says_started_without_totals():
    ctx = context(event="started", job={"state": "running", "finished": None, "elapsed": 0.0}, hosts=[], failed_hosts=[],
                  totals=dict.fromkeys(("ok", "changed", "failures", "unreachable", "skipped"), 0))
    rendered = render.render(email(), ctx)
    assert rendered.subject == '[OpsGrat] Déploiement "prod" #42 started'
    assert rendered.body.splitlines()[0] == 'Déploiement "prod" #42 started'
    assert "State: running" in rendered.body
    assert "Totals:" not in rendered.body and "Elapsed:" not in rendered.body and "Failed hosts:" not in rendered.body


def test_default_workflow_message_lists_the_nodes_and_their_states():
    nodes = [{"name": 'Build "app"', "state": "successful", "job": 51}, {"name": "Déploiement", "state": "failed", "job": 52},
             {"name": "Notify", "state": "new", "job": None}]
    ctx = context(job={"id": 50, "name": "Release", "kind": "workflow", "template_name": "Release"}, hosts=[], failed_hosts=[],
                  nodes=nodes)
    lines = render.render(email(), ctx).body.splitlines()
    start = lines.index("Workflow nodes:")
    assert lines[start + 1:start + 4] == ['- Build "app": successful (job #51)', "- Déploiement: failed (job #52)", "- Notify: new"]
    assert "Kind: Workflow job" in lines


def test_default_adhoc_message_has_no_template_or_schedule():
    ctx = context(job={"name": "shell", "kind": "adhoc", "template": None, "template_name": None, "schedule": None,
                       "schedule_name": None, "state": "successful"}, failed_hosts=[])
    rendered = render.render(email(), ctx)
    assert rendered.subject == "[OpsGrat] shell #42 successful"
    assert "Kind: Command" in rendered.body.splitlines()
    assert "Template:" not in rendered.body and "Schedule:" not in rendered.body and "Failed hosts:" not in rendered.body


def test_blank_templates_mean_the_defaults():
    assert render.render(email(body="  \n", subject=""), SAMPLE_CONTEXT) == render.render(email(), SAMPLE_CONTEXT)


def test_missing_variables_still_render_the_defaults():
    rendered = render.render(email(), {"event": "finished", "job": {"id": 1, "name": "x", "state": "failed"}})
    assert rendered.subject == "[OpsGrat] x #1 failed"
    assert "Totals: ok 0, changed 0" in rendered.body


def test_defaults_pass_the_save_time_check_on_every_channel():
    for channel in ("Email", "DingTalk", "QiYeWeiXin", "Webhook", "Slack", "Teams", "SNS"):
        render.check({"channel": channel})


# ---------------------------------------------------------------- user templates


def test_custom_body_with_quotes_and_unicode_arrives_intact():
    body = 'Tâche « {{ job.name }} » — {{ job.launched_by }} said "ok" \'twice\' 🚀\n{{ failed_hosts|join(" & ") }}'
    rendered = render.render(email(body=body), SAMPLE_CONTEXT)
    assert rendered.body == 'Tâche « Déploiement "prod" » — josé said "ok" \'twice\' 🚀\ndb1.example.com & bäckup-01.example.com'


def test_tojson_keeps_a_webhook_body_valid_whatever_the_values_hold():
    name = 'say "hi" \\ back\\slash\nnew line\ttab — ünïcödé </script> \'single\''
    ctx = context(job={"name": name, "limit": "a\\b\"c"}, failed_hosts=['h"1', "h\\2", "h\n3", "hé"])
    body = '{"name": {{ job.name|tojson }}, "limit": {{ job.limit|tojson }}, "failed": {{ failed_hosts|tojson }}, ' \
           '"job": {{ job|tojson }}}'
    render.check(webhook(body))
    parsed = json.loads(render.render(webhook(body), ctx).body)
    assert parsed["name"] == name and parsed["limit"] == "a\\b\"c" and parsed["failed"] == ['h"1', "h\\2", "h\n3", "hé"]
    assert parsed["job"] == ctx["job"]


def test_tojson_writes_dynamodb_decimals_as_numbers_and_missing_keys_as_null():
    ctx = context(job={"elapsed": Decimal("12.5"), "id": Decimal(42)})
    body = '{"elapsed": {{ job.elapsed|tojson }}, "id": {{ job.id|tojson }}, "missing": {{ job.nope|tojson }}}'
    assert json.loads(render.render(webhook(body), ctx).body) == {"elapsed": 12.5, "id": 42, "missing": None}


def test_subject_newlines_become_spaces():
    subject = "{{ job.name }}\r\nBcc: someone@example.com\n  {{ job.state }}\n"
    assert render.render(email(subject=subject), SAMPLE_CONTEXT).subject == 'Déploiement "prod" Bcc: someone@example.com failed'


def test_a_missing_key_prints_as_nothing():
    assert render.render(email(body="[{{ job.no_such_key }}]"), SAMPLE_CONTEXT).body == "[]"


def test_syntax_error_names_the_field_and_line():
    error = refused_at_save(email(body="Hello\n{{ job.name }\n"))
    assert error.status == 400 and error.field == "body_template"
    assert error.detail.startswith("body_template: line 2: ")
    assert refused_at_save(email(subject="{% if job.name %}no end")).detail.startswith("subject_template: line 1: ")


def test_syntax_error_at_send_is_a_render_error():
    assert str(refused_at_send(email(body="a\n\n{% for %}"))).startswith("body_template: line 3: ")


def test_misspelt_top_level_variable_is_refused_at_save():
    error = refused_at_save(email(body="ok\n{{ jbo.name }}"))
    assert error.field == "body_template" and "line 2: 'jbo' is not a variable" in error.detail


def test_locals_globals_and_loop_variables_are_not_misspellings():
    body = ("{% set total = hosts|length %}{% set ns = namespace(n=0) %}{% for h in hosts %}{{ loop.index }}{{ h.host }}"
            "{% endfor %}{% macro m(x) %}{{ x }}{{ caller() }}{% endmacro %}{% call m(1) %}c{% endcall %}"
            "{{ range(2)|list }}{{ dict(a=1) }}{{ cycler(1).next() }}{{ joiner()() }}{{ total }}{{ ns.n }}{{ installation }}")
    render.check(email(body=body))


def test_runtime_error_names_the_field_and_line():
    error = refused_at_save(email(body="a\nb\n{{ 1 / 0 }}"))
    assert error.detail.startswith("body_template: line 3: ZeroDivisionError")
    assert str(refused_at_send(email(body="a\nb\n{{ 1 / 0 }}"))).startswith("body_template: line 3: ZeroDivisionError")


def test_template_longer_than_16_kib_is_refused():
    error = refused_at_save(email(body="x" * (16 * 1024 + 1)))
    assert error.field == "body_template" and "longer than 16384" in error.detail
    render.check(email(body="x" * (16 * 1024)))


def test_template_that_is_not_a_string_is_refused():
    assert refused_at_save(email(subject=["{{ job.name }}"])).field == "subject_template"


# ---------------------------------------------------------------- the sandbox

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__['__builtins__'] }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ job.items.__self__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ range.__globals__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ hosts|map(attribute='__class__')|list }}",
    "{{ '{0.__class__.__mro__}'.format(job) }}",
    "{{ dict.mro() }}",
    "{{ lipsum.__globals__.os }}",
    "{% for c in ''.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ hosts.append(1) }}",
    "{{ job.update({'state': 'successful'}) }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_sandbox_escape_is_refused_at_save(payload):
    error = refused_at_save(email(body=payload))
    assert error.field == "body_template"
    assert "unsafe" in error.detail or "'lipsum' is not a variable" in error.detail


@pytest.mark.parametrize("payload", ESCAPES)
def test_sandbox_escape_is_refused_at_send(payload):
    error = refused_at_send(email(body=payload))
    assert error.field == "body_template"
    assert "unsafe" in error.message or "'lipsum' is undefined" in error.message


def test_output_over_64_kib_is_refused_at_save_and_at_send():
    body = "{% for h in range(5000) %}{{ h }} padding padding{% endfor %}"
    assert "renders to more than 65536 bytes" in refused_at_save(email(body=body)).detail
    assert "renders to more than 65536 bytes" in refused_at_send(email(body=body)).message


def test_output_cap_counts_utf8_bytes():
    assert "more than 65536 bytes" in refused_at_send(email(body="{{ 'é' * 40000 }}")).message
    assert len(render.render(email(body="{{ 'é' * 30000 }}"), SAMPLE_CONTEXT).body) == 30000


def test_subject_has_the_same_output_cap():
    assert refused_at_send(email(subject="{{ 'x' * 65000 }}{{ 'y' * 1000 }}")).field == "subject_template"


def test_range_is_bounded_to_10000_items():
    assert render.render(email(body="{{ range(10000)|list|length }}"), SAMPLE_CONTEXT).body == "10000"
    assert "range() makes at most 10000 items" in refused_at_save(email(body="{{ range(10001)|length }}")).detail
    assert "range() makes at most 10000 items" in refused_at_send(email(body="{{ range(10 ** 12)|length }}")).message


def test_nested_loops_without_output_are_bounded():
    body = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}done"
    started = time.monotonic()
    assert "loops ran more than 100000 times" in refused_at_send(email(body=body)).message
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("payload", [
    "{{ 'x' * 10 ** 9 }}",
    "{{ [0] * 10 ** 9 }}",
    "{{ 9 ** (9 ** 9) }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '%999999999d'|format(1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ 'x'|center(999999999) }}",
    "{{ 'x'.ljust(999999999) }}",
    "{{ (job.id|tojson).center(999999999) }}",
    "{{ 'a\\nb'|indent(999999) }}",
    "{{ ('x' * 65536)|replace('x', 'x' * 65536) }}",
    "{{ ('x' * 65536).replace('x', 'xx') }}",
    "{{ ('x' * 60000).join(['a', 'b', 'c']) }}",
    "{{ ['x' * 40000, 'y' * 40000]|join }}",
    "{{ [1]|batch(999999999, 0)|list }}",
    "{{ hosts|tojson(indent=1000000) }}",
])
def test_one_step_blowups_are_refused_before_they_are_built(payload):
    started = time.monotonic()
    error = refused_at_save(email(body=payload))
    assert "would make" in error.detail or "indent is at most" in error.detail
    assert time.monotonic() - started < 5


def test_ordinary_arithmetic_and_formatting_still_work():
    body = ("{{ 2 ** 64 }} {{ 'ab' * 3 }} {{ '%05.1f' % job.elapsed }} {{ '%s=%d'|format('n', 7) }} {{ '{:>6}'.format('r') }} "
            "{{ 'c'|center(5) }}| {{ hosts|join(',', attribute='host') }} {{ 'a-b'|replace('-', '+') }}")
    assert render.render(email(body=body), SAMPLE_CONTEXT).body == (
        "18446744073709551616 ababab 132.4 n=7      r   c  | web1.example.com,web2.example.com,db1.example.com,"
        "bäckup-01.example.com a+b")


# ---------------------------------------------------------------- webhook JSON


def test_invalid_json_webhook_body_is_a_400_at_save():
    error = refused_at_save(webhook('{"name": "{{ job.name }}"}'))
    assert error.status == 400 and error.field == "body_template"
    assert "renders to invalid JSON: Expecting ',' delimiter: line 1 column 24" in error.detail


def test_invalid_json_webhook_body_is_a_render_error_at_send():
    error = refused_at_send(webhook('{"name": "{{ job.name }}"}'), context(job={"name": 'with "quotes"'}))
    assert error.field == "body_template" and "renders to invalid JSON" in error.message


def test_webhook_body_must_be_an_object_or_an_array():
    assert "not int" in refused_at_save(webhook("{{ job.id }}")).detail
    assert "not str" in refused_at_send(webhook('"{{ job.state }}"')).message
    render.check(webhook("[{{ job.id }}]"))


def test_webhook_body_with_nan_is_not_json():
    assert "NaN is not JSON" in refused_at_send(webhook('{"x": NaN}')).message


def test_other_channels_bodies_need_not_be_json():
    render.check({"channel": "Slack", "body_template": '{"name": "{{ job.name }}"}'})


def test_default_webhook_body_is_the_json_document_of_the_context():
    document = json.loads(render.render(webhook(), SAMPLE_CONTEXT).body)
    assert document == {key: SAMPLE_CONTEXT[key] for key in ("event", "job", "hosts", "failed_hosts", "totals", "nodes")}


def test_default_webhook_body_is_valid_json_for_a_context_full_of_quotes():
    tricky = 'q"uo\'te \\ back {{ not a template }} {% raw %} \n ü 🚀 </script>'
    ctx = context(job={"name": tricky, "launched_by": tricky, "limit": tricky, "elapsed": Decimal("1.25")},
                  hosts=[{"host": tricky, "ok": 1, "changed": 0, "failures": 1, "unreachable": 0, "skipped": 0}],
                  failed_hosts=[tricky], nodes=[{"name": tricky, "state": "failed", "job": 3}])
    document = json.loads(render.render(webhook(), ctx).body)
    assert document["job"]["name"] == tricky and document["failed_hosts"] == [tricky] and document["nodes"][0]["name"] == tricky
    assert document["job"]["elapsed"] == 1.25


def test_default_webhook_body_of_a_huge_job_keeps_only_the_failed_hosts():
    hosts = [{"host": f"host-{n:05d}.example.com", "ok": 1, "changed": 0, "failures": int(n % 1000 == 0), "unreachable": 0,
              "skipped": 0} for n in range(3000)]
    failed = [h["host"] for h in hosts if h["failures"]]
    body = render.render(webhook(), context(hosts=hosts, failed_hosts=failed)).body
    document = json.loads(body)
    assert len(body.encode()) <= render.MAX_OUTPUT_BYTES
    assert [h["host"] for h in document["hosts"]] == failed and document["hosts_omitted"] == 3000 - len(failed)


# ---------------------------------------------------------------- the documented variables


def test_sample_context_has_every_variable():
    for name in VARIABLES:
        value = SAMPLE_CONTEXT
        for part in name.split("."):
            assert part in value, name
            value = value[part]
    assert set(SAMPLE_CONTEXT) == {name for name in VARIABLES if "." not in name}
    assert set(SAMPLE_CONTEXT["job"]) == {name.split(".")[1] for name in VARIABLES if name.startswith("job.")}


def test_sample_context_is_a_failed_scheduled_job_with_two_failed_hosts_and_tricky_names():
    assert SAMPLE_CONTEXT["job"]["state"] == "failed" and SAMPLE_CONTEXT["job"]["schedule"] is not None
    assert len(SAMPLE_CONTEXT["failed_hosts"]) == 2
    assert '"' in SAMPLE_CONTEXT["job"]["name"] and not SAMPLE_CONTEXT["job"]["name"].isascii()
    assert SAMPLE_CONTEXT["totals"] == {c: sum(h[c] for h in SAMPLE_CONTEXT["hosts"]) for c in SAMPLE_CONTEXT["totals"]}
