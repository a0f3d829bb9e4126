"""The `/kaas` grammar: valid lines become typed commands; hostile lines become helpful ParseErrors."""

from __future__ import annotations

import dataclasses
import random

import pytest

from bot import messages
from bot.grammar import (
    SUBCOMMANDS,
    AppsCmd,
    BackupCmd,
    BackupsCmd,
    CancelCmd,
    CheckCmd,
    Command,
    CreateCmd,
    DeleteCmd,
    DeployCmd,
    Help,
    InfoCmd,
    KubeconfigCmd,
    ListCmd,
    ParseError,
    RegisterCmd,
    RestoreCmd,
    ScaleCmd,
    UndeployCmd,
    parse,
    slack_file_id,
)

VALID = [
    # help and the empty line
    ("", Help(None)),
    ("   \t ", Help(None)),
    ("help", Help(None)),
    ("/kaas", Help(None)),
    ("/kaas help", Help(None)),
    ("--help", Help(None)),
    ("-h", Help(None)),
    ("help create", Help("create")),
    ("HELP List", Help("list")),
    ("help register", Help("register")),
    ("help help", Help("help")),
    ("create --help", Help("create")),
    ("delete my-app -h", Help("delete")),
    # create
    ("create", CreateCmd(None)),
    ("/kaas create", CreateCmd(None)),
    ("create my-app", CreateCmd("my-app")),
    ("/kaas create my-app", CreateCmd("my-app")),
    ("/KAAS create my-app", CreateCmd("my-app")),
    ("CREATE my-app", CreateCmd("my-app")),
    ("create a", CreateCmd("a")),
    ("create 1", CreateCmd("1")),
    ("create 0-0", CreateCmd("0-0")),
    ("create " + "a" * 40, CreateCmd("a" * 40)),
    ("create a" + "-" * 38 + "z", CreateCmd("a" + "-" * 38 + "z")),
    ("create my-app --nodes 3", CreateCmd("my-app", nodes=3)),
    ("create my-app --nodes=3", CreateCmd("my-app", nodes=3)),
    ("create my-app --nodes 1", CreateCmd("my-app", nodes=1)),
    ("create my-app --nodes 100", CreateCmd("my-app", nodes=100)),
    ("create my-app --nodes 007", CreateCmd("my-app", nodes=7)),
    ("create --nodes 3 my-app", CreateCmd("my-app", nodes=3)),
    ("create my-app --version 1.32", CreateCmd("my-app", version="1.32")),
    ("create my-app --version 1.32.5", CreateCmd("my-app", version="1.32.5")),
    ("create my-app --version v1.32", CreateCmd("my-app", version="1.32")),
    ("create my-app --version=v1.30.12", CreateCmd("my-app", version="1.30.12")),
    ("create my-app --provider gke-prod", CreateCmd("my-app", provider="gke-prod")),
    ("create my-app --provider " + "p" * 63, CreateCmd("my-app", provider="p" * 63)),
    ("create my-app --machine-type e2-standard-4", CreateCmd("my-app", machine_type="e2-standard-4")),
    ("create my-app --machine-type Standard_D4s_v5", CreateCmd("my-app", machine_type="Standard_D4s_v5")),
    ("create my-app --machine-type=n1.highmem-8", CreateCmd("my-app", machine_type="n1.highmem-8")),
    ("create my-app --machine-type " + "m" * 63, CreateCmd("my-app", machine_type="m" * 63)),
    (
        "create my-app --provider gke-prod --nodes 5 --version 1.32.5 --machine-type e2-standard-4",
        CreateCmd("my-app", provider="gke-prod", nodes=5, version="1.32.5", machine_type="e2-standard-4"),
    ),
    (
        "create --machine-type=t3.large --version=1.31 --nodes=2 --provider=aks my-app",
        CreateCmd("my-app", provider="aks", nodes=2, version="1.31", machine_type="t3.large"),
    ),
    # quoting and Slack's formatting
    ('"create" "my-app"', CreateCmd("my-app")),
    ("create 'my-app' --nodes '3'", CreateCmd("my-app", nodes=3)),
    ("create \u201cmy-app\u201d --nodes \u20183\u2019", CreateCmd("my-app", nodes=3)),
    ("create\u00a0my-app\u00a0--nodes\u202f2", CreateCmd("my-app", nodes=2)),
    ("  \tcreate   my-app \n", CreateCmd("my-app")),
    ("create\nmy-app\r\n--nodes\t4", CreateCmd("my-app", nodes=4)),
    (
        "create my-app --machine-type <http://e2.medium|e2.medium>",
        CreateCmd("my-app", machine_type="e2.medium"),
    ),
    # list
    ("list", ListCmd()),
    ("/kaas list", ListCmd()),
    ("list --all", ListCmd(all=True)),
    ("list --page 2", ListCmd(page=2)),
    ("list --page=1000", ListCmd(page=1000)),
    ("list --page 1", ListCmd(page=1)),
    ("list --all --page 3", ListCmd(all=True, page=3)),
    ("list --page 3 --all", ListCmd(all=True, page=3)),
    # name-only commands
    ("info my-app", InfoCmd("my-app")),
    ("/kaas info my-app", InfoCmd("my-app")),
    ("Info my-app", InfoCmd("my-app")),
    ("kubeconfig my-app", KubeconfigCmd("my-app")),
    ("delete my-app", DeleteCmd("my-app")),
    ("scale my-app 5", ScaleCmd("my-app", 5)),
    ("scale  my-app  007", ScaleCmd("my-app", 7)),
    ("delete 'my-app'", DeleteCmd("my-app")),
    ("cancel my-app", CancelCmd("my-app")),
    ("/kaas CANCEL 'my-app'", CancelCmd("my-app")),
    # register
    ("register legacy", RegisterCmd("legacy")),
    ("register legacy --kubeconfig /home/me/.kube/config", RegisterCmd("legacy", "/home/me/.kube/config")),
    ("register legacy --kubeconfig=/tmp/kc.yaml", RegisterCmd("legacy", "/tmp/kc.yaml")),
    ("register --kubeconfig /tmp/kc legacy", RegisterCmd("legacy", "/tmp/kc")),
    ("register legacy --kubeconfig '/tmp/my configs/kc'", RegisterCmd("legacy", "/tmp/my configs/kc")),
    ("register legacy --kubeconfig \u201c/tmp/a b\u201d", RegisterCmd("legacy", "/tmp/a b")),
    ("register legacy --kubeconfig /tmp/a&amp;b", RegisterCmd("legacy", "/tmp/a&b")),
    ("register legacy --kubeconfig -odd-but-a-path", RegisterCmd("legacy", "-odd-but-a-path")),
    ("register legacy --kubeconfig " + "p" * 3900, RegisterCmd("legacy", "p" * 3900)),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[repr(t)[:60] for t, _ in VALID])
def test_valid_lines(text: str, expected: object) -> None:
    assert parse(text) == expected


# (text, the subcommand whose usage must come back (None: general usage), a phrase the message must contain)
HOSTILE = [
    # scale's node count
    ("scale my-app", "scale", "needs NODES"),
    ("scale my-app 0", "scale", "from 1 to 100"),
    ("scale my-app -3", "scale", "from 1 to 100"),
    ("scale my-app 1e3", "scale", "from 1 to 100"),
    ("scale my-app 3.5", "scale", "from 1 to 100"),
    ("scale my-app 99999999999999999999", "scale", "from 1 to 100"),
    ("scale my-app 3 4", "scale", "extra"),
    ("scale Bad_Name 3", "scale", "can't be a cluster name"),
    # quotes and escapes
    ('create "my-app', "create", "quote"),
    ("create 'my-app", "create", "quote"),
    ("create \u201cmy-app", "create", "quote"),
    ("info 'a\"", "info", "quote"),
    ("list --page '2", "list", "quote"),
    ('"', None, "quote"),
    ("create my-app\\", "create", "backslash"),
    # bad names
    ("create MyApp", "create", "Try `myapp`"),
    ("create my_app", "create", "Try `my-app`"),
    ("create my app", "create", "is extra"),
    ('create "My App"', "create", "Try `my-app`"),
    ("create my.app", "create", "Try `my-app`"),
    ("create -my-app", "create", "can't be a cluster name"),
    ("create my-app-", "create", "starting and ending with a letter or digit"),
    ("info -", "info", "can't be a cluster name"),
    ("create " + "a" * 41, "create", "41 characters long"),
    ("delete " + "b" * 64, "delete", "at most 40"),
    ("create m\u0430ster", "create", "U+0430"),  # Cyrillic a
    ("info \u0455taging", "info", "U+0455"),  # Cyrillic dze, looks like s
    ("create \uff4dy-app", "create", "U+FF4D"),  # fullwidth m
    ("create 🚀", "create", "U+1F680"),
    ("create :rocket:", "create", "can't be a cluster name"),
    ("create my\u200bapp", "create", "U+200B"),  # zero-width space
    ("info \u202eppa-ym", "info", "\\u202e"),  # right-to-left override, shown not obeyed
    ('create ""', "create", "empty"),
    ("info ''", "info", "empty"),
    ("info --nodes", "info", "takes no options"),
    ("delete --all", "delete", "takes no options"),
    ("cancel --all", "cancel", "takes no options"),
    ("cancel", "cancel", "needs a cluster name"),
    ("cancel a b", "cancel", "is extra"),
    ("cancel " + "c" * 41, "cancel", "41 characters long"),
    ("cancel My_App", "cancel", "Try `my-app`"),
    ("cancel $(reboot)", "cancel", "can't be a cluster name"),
    ("cancel <!channel>", "cancel", "&lt;!channel&gt;"),
    ("cancel a\x00", "cancel", "\\x00"),
    ("abort my-app", None, "Did you mean `cancel`?"),
    ("stop my-app", None, "Did you mean `cancel`?"),
    ("kubeconfig --nodes 3", "kubeconfig", "takes no options"),
    ("create --nodes", "create", "needs a value"),
    # numbers
    ("create x --nodes 0", "create", "from 1 to 100"),
    ("create x --nodes 101", "create", "from 1 to 100"),
    ("create x --nodes -1", "create", "from 1 to 100"),
    ("create x --nodes 1e3", "create", "from 1 to 100"),
    ("create x --nodes 3.5", "create", "from 1 to 100"),
    ("create x --nodes 99999999999999999999", "create", "from 1 to 100"),
    ("create x --nodes " + "9" * 3000, "create", "from 1 to 100"),
    ("create x --nodes NaN", "create", "from 1 to 100"),
    ("create x --nodes inf", "create", "from 1 to 100"),
    ("create x --nodes +3", "create", "from 1 to 100"),
    ("create x --nodes ' 3'", "create", "from 1 to 100"),
    ("create x --nodes 1_0", "create", "from 1 to 100"),
    ("create x --nodes 0x10", "create", "from 1 to 100"),
    ("create x --nodes ٣", "create", "from 1 to 100"),  # Arabic-Indic three
    ("create x --nodes=", "create", "an empty value"),
    ("create x --nodes", "create", "needs a value"),
    ("create x --nodes --version 1.32", "create", "needs a value"),
    ("list --page 0", "list", "from 1 to 1000"),
    ("list --page 1001", "list", "from 1 to 1000"),
    ("list --page -5", "list", "from 1 to 1000"),
    ("list --page two", "list", "from 1 to 1000"),
    ("list --page", "list", "needs a value"),
    # other values
    ("create x --version 1", "create", "`1.32` or `1.32.5`"),
    ("create x --version latest", "create", "`1.32` or `1.32.5`"),
    ("create x --version 1.32.5.1", "create", "`1.32` or `1.32.5`"),
    ("create x --version v", "create", "`1.32` or `1.32.5`"),
    ("create x --version 1.x", "create", "`1.32` or `1.32.5`"),
    ("create x --version v1.32-rc.1", "create", "`1.32` or `1.32.5`"),
    ("create x --version=", "create", "`1.32` or `1.32.5`"),
    ("create x --provider GKE", "create", "provider profile"),
    ("create x --provider -gke", "create", "provider profile"),
    ("create x --provider gke_prod", "create", "provider profile"),
    ("create x --provider " + "p" * 64, "create", "provider profile"),
    ("create x --provider http://169.254.169.254", "create", "provider profile"),
    ("create x --machine-type -big", "create", "machine type"),
    ("create x --machine-type " + "m" * 64, "create", "machine type"),
    ("create x --machine-type 'e2 standard'", "create", "machine type"),
    ("create x --machine-type e2/standard", "create", "machine type"),
    ("create x --machine-type $(id)", "create", "machine type"),
    ("register x --kubeconfig ''", "register", "path is empty"),
    ("register x --kubeconfig '/tmp/a\x00b'", "register", "control character"),
    ("register x --kubeconfig /tmp/\x1b[31mred", "register", "control character"),
    ("register x --kubeconfig", "register", "needs a value"),
    # unknown, repeated and misplaced options; extra and missing arguments
    ("create x --size 3", "create", "isn't an option of `create`"),
    ("create x --node 3", "create", "Did you mean `--nodes`?"),
    ("create x --machine_type e2", "create", "Did you mean `--machine-type`?"),
    ("create x -n 3", "create", "isn't an option of `create`"),
    ("create x --", "create", "isn't an option of `create`"),
    ("list --al", "list", "Did you mean `--all`?"),
    ("list -a", "list", "isn't an option of `list`"),
    ("info x --force", "info", "takes no options"),
    ("register x --config /tmp/kc", "register", "Did you mean `--kubeconfig`?"),
    ("create x --nodes 2 --nodes 3", "create", "more than once"),
    ("create x --nodes=2 --nodes 2", "create", "more than once"),
    ("list --all --all", "list", "more than once"),
    ("list --all=true", "list", "takes no value"),
    ("info a b", "info", "is extra"),
    ("delete a b c", "delete", "is extra"),
    ("register a b", "register", "is extra"),
    ("list mine", "list", "takes no arguments"),
    ("help create list", "help", "is extra"),
    ("info", "info", "needs a cluster name"),
    ("kubeconfig", "kubeconfig", "needs a cluster name"),
    ("delete", "delete", "needs a cluster name"),
    ("register --kubeconfig /tmp/kc", "register", "needs a cluster name"),
    ("create --nodes 3", "create", "send just `/kaas create`"),
    ("create --version 1.32 --provider gke", "create", "send just `/kaas create`"),
    # unknown commands, with suggestions for near misses
    ("crate my-app", None, "Did you mean `create`?"),
    ("lsit", None, "Did you mean `list`?"),
    ("delte my-app", None, "Did you mean `delete`?"),
    ("kubeconfg my-app", None, "Did you mean `kubeconfig`?"),
    ("registr x", None, "Did you mean `register`?"),
    ("rm my-app", None, "Did you mean `delete`?"),
    ("ls", None, "Did you mean `list`?"),
    ("frobnicate", None, "isn't a kaas command"),
    ("--nodes 3", None, "isn't a kaas command"),
    ("kubectl get pods", None, "isn't a kaas command"),
    ("/kaas /kaas", None, "isn't a kaas command"),
    ("help crate", "help", "Did you mean `create`?"),
    ("help everything", "help", "no help on"),
    # size
    ("create " + "a" * 4993, "create", "5000 characters"),
    ("x" * 5000, None, "5000 characters"),
    ("info " + "a" * 3995, "info", "at most 40"),
    # NUL and control characters
    ("create my\x00app", "create", "\\x00"),
    ("\x00", None, "\\x00"),
    ("info a\x00", "info", "\\x00"),
    ("create my\x1bapp", "create", "\\x1b"),
    ("create \x07", "create", "\\x07"),
    ("delete a\x7f", "delete", "\\x7f"),
    ("cre\x00ate x", None, "\\x00"),
    # things that look like shell injection: refused as names or values, never run
    ("create foo; rm -rf /", "create", "`foo;`"),
    ("create ;rm -rf /", "create", "can't be a cluster name"),
    ("create $(rm -rf /)", "create", "can't be a cluster name"),
    ("info $(whoami)", "info", "`$(whoami)`"),
    ("create `reboot`", "create", "can't be a cluster name"),
    ("info a&&b", "info", "a&amp;&amp;b"),
    ("info a|b", "info", "can't be a cluster name"),
    ("delete '; DROP TABLE clusters;--'", "delete", "can't be a cluster name"),
    ("create ${IFS}", "create", "can't be a cluster name"),
    ("create ../../etc/passwd", "create", "can't be a cluster name"),
    # Slack markup: must come back escaped, never as a live mention or link
    ("create <!channel>", "create", "&lt;!channel&gt;"),
    ("create <@U123ABC>", "create", "&lt;@U123ABC&gt;"),
    ("create &lt;b&gt;", "create", "&lt;b&gt;"),
    ("info <script>alert(1)</script>", "info", "&lt;script&gt;"),
    # addresses where a name is due
    ("create http://169.254.169.254", "create", "`http://169.254.169.254`"),
    ("create <http://169.254.169.254|169.254.169.254>", "create", "`169.254.169.254`"),
    ("info <http://169.254.169.254/latest/meta-data>", "info", "can't be a cluster name"),
    ("create 169.254.169.254", "create", "can't be a cluster name"),
    ("delete <mailto:root@evil.example|root@evil.example>", "delete", "`root@evil.example`"),
    ("create localhost:8080", "create", "can't be a cluster name"),
]


def _check_error(result: object, expected_usage: str) -> ParseError:
    assert isinstance(result, ParseError), result
    assert result.usage == expected_usage
    assert result.message
    assert len(result.message) < 600, "a reply should never echo the whole input"
    assert "<" not in result.message and ">" not in result.message, result.message
    assert all(ch.isprintable() for ch in result.message), repr(result.message)
    return result


@pytest.mark.parametrize(("text", "subcommand", "phrase"), HOSTILE, ids=[repr(t)[:60] for t, _, _ in HOSTILE])
def test_hostile_lines(text: str, subcommand: str | None, phrase: str) -> None:
    result = _check_error(parse(text), messages.usage(subcommand))
    assert phrase in result.message, result.message


def test_the_error_speaks_of_the_first_problem_on_the_line() -> None:
    result = parse("create Bad_Name --nodes 0 --bogus")
    assert isinstance(result, ParseError)
    assert "Bad_Name" in result.message
    assert "--bogus" not in result.message


def test_suggestion_is_not_offered_for_unrelated_words() -> None:
    result = parse("zzzzqqq")
    assert isinstance(result, ParseError)
    assert "Did you mean" not in result.message


def test_homoglyph_name_is_not_silently_accepted_or_transliterated() -> None:
    result = parse("delete pr\u043ed")  # Cyrillic o
    assert isinstance(result, ParseError)
    assert "Try `" not in result.message  # no ASCII look-alike is offered as a fix


def test_slack_links_are_read_as_their_text() -> None:
    assert parse("register x --kubeconfig <http://example.com/kc|example.com/kc>") == RegisterCmd(
        "x", "example.com/kc"
    )
    assert parse("register x --kubeconfig <https://example.com/kc>") == RegisterCmd(
        "x", "https://example.com/kc"
    )


def test_random_hostile_input_never_raises() -> None:
    rng = random.Random(1123)
    alphabet = [
        *"abcz019-_.=/ \t\n\"'\\$`;|&<>()\u201c\u201d\u2018\u2019\u00a0\x00\x1b\u202e\u0430\u00e9\U0001f680",
        "create ",
        "list ",
        "info ",
        "register ",
        "help ",
        "--nodes ",
        "--page=",
        "--all ",
        "--kubeconfig ",
        "--version ",
        "<http://x|y>",
        "&lt;",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        result = parse(text)
        assert isinstance(
            result,
            Help | ParseError | CreateCmd | ListCmd | InfoCmd | KubeconfigCmd | DeleteCmd | RegisterCmd,
        )
        if isinstance(result, ParseError):
            assert "<" not in result.message and ">" not in result.message, (text, result)
            assert all(ch.isprintable() for ch in result.message), (text, result)
            assert result.usage in (*messages.USAGE.values(), messages.GENERAL_USAGE)


def test_commands_are_frozen() -> None:
    command = parse("create my-app")
    assert isinstance(command, CreateCmd)
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.name = "other"  # type: ignore[misc]


# --- apps, health and backups ------------------------------------------------------------------------------

URL = "https://example.com/web.yaml"
PERMALINK = "https://acme.slack.com/files/U123/F0ABCDEF12/app.yaml"
OCI = "oci://registry.example.com/charts/nginx"


def _deploy(cluster: str | None = "my-app", app: str | None = "web", **fields: object) -> DeployCmd:
    fields.setdefault("version", None)
    fields.setdefault("source", None)
    return DeployCmd(cluster, app, **fields)  # type: ignore[arg-type]


VALID_APPS = [
    # deploy: the form, empty or prefilled
    ("deploy", DeployCmd(None, None, None, None)),
    ("/kaas deploy", DeployCmd(None, None, None, None)),
    ("deploy my-app", DeployCmd("my-app", None, None, None)),
    ("DEPLOY my-app web", _deploy()),
    ("deploy my-app web --namespace shop", _deploy(namespace="shop")),
    ("deploy --namespace shop my-app web", _deploy(namespace="shop")),
    # APP[@VERSION]
    ("deploy my-app web@v1.2.3", _deploy(version="v1.2.3")),
    ("deploy my-app web@1.0_rc-1.B", _deploy(version="1.0_rc-1.B")),
    ("deploy my-app web@7", _deploy(version="7")),
    ("deploy my-app web@" + "v" * 63, _deploy(version="v" * 63)),
    ("deploy my-app " + "w" * 40, _deploy(app="w" * 40)),
    ("deploy my-app <mailto:web@v1.2.3|web@v1.2.3>", _deploy(version="v1.2.3")),  # Slack's e-mail link
    # SOURCE
    (f"deploy my-app web {URL}", _deploy(source=URL)),
    (f"deploy my-app web@v2 {URL}", _deploy(version="v2", source=URL)),
    (
        "deploy my-app web http://example.com:8080/web.yaml?ref=main#top",
        _deploy(source="http://example.com:8080/web.yaml?ref=main#top"),
    ),
    ("deploy my-app web HTTPS://EXAMPLE.COM/web.yaml", _deploy(source="HTTPS://EXAMPLE.COM/web.yaml")),
    (f"deploy my-app web <{URL}>", _deploy(source=URL)),
    (f"deploy my-app web <{URL}|{URL}>", _deploy(source=URL)),
    ("deploy my-app web https://[2001:db8::1]/web.yaml", _deploy(source="https://[2001:db8::1]/web.yaml")),
    (
        "deploy my-app web https://example.com/" + "p" * 2000,
        _deploy(source="https://example.com/" + "p" * 2000),
    ),
    (f"deploy my-app web {PERMALINK}", _deploy(source=PERMALINK)),
    (f"deploy my-app web <{PERMALINK}>", _deploy(source=PERMALINK)),
    ("deploy my-app web F0ABCDEF12", _deploy(source="F0ABCDEF12")),
    ("deploy my-app web F01234567", _deploy(source="F01234567")),
    ("deploy my-app web ./web.yaml", _deploy(source="./web.yaml")),
    ("deploy my-app web /srv/k8s/web.yaml", _deploy(source="/srv/k8s/web.yaml")),
    ("deploy my-app web '/tmp/my apps/web.yaml'", _deploy(source="/tmp/my apps/web.yaml")),
    ("deploy my-app web ./a:b.yaml", _deploy(source="./a:b.yaml")),
    # --values and --set, repeatable
    ("deploy my-app web --values v.yaml", _deploy(values=("v.yaml",))),
    (
        "deploy my-app web --values=https://example.com/v.yaml --values ./prod.yaml",
        _deploy(values=("https://example.com/v.yaml", "./prod.yaml")),
    ),
    (
        "deploy my-app web" + "".join(f" --values v{i}.yaml" for i in range(5)),
        _deploy(values=tuple(f"v{i}.yaml" for i in range(5))),
    ),
    ("deploy my-app web --set replicaCount=2", _deploy(set_values=("replicaCount=2",))),
    ("deploy my-app web --set=replicaCount=2", _deploy(set_values=("replicaCount=2",))),
    ("deploy my-app web --set=a=b=c", _deploy(set_values=("a=b=c",))),
    ("deploy my-app web --set a=", _deploy(set_values=("a=",))),
    ("deploy my-app web --set 'list[0].name=x y'", _deploy(set_values=("list[0].name=x y",))),
    ("deploy my-app web --set a=1,b=2 --set c_d-e.f=-3", _deploy(set_values=("a=1,b=2", "c_d-e.f=-3"))),
    # Slack turns a URL in a value into a link; it is read back as typed.
    ("deploy my-app web --set repo=<https://example.com>", _deploy(set_values=("repo=https://example.com",))),
    ("deploy my-app web --set k=" + "v" * 998, _deploy(set_values=("k=" + "v" * 998,))),
    (
        "deploy my-app web" + "".join(f" --set k{i}={i}" for i in range(50)),
        _deploy(set_values=tuple(f"k{i}={i}" for i in range(50))),
    ),
    # --chart, --chart-version, --timeout
    (f"deploy my-app web --chart {OCI}", _deploy(chart=OCI)),
    (f"deploy my-app web --chart={OCI} --chart-version=15.4.2", _deploy(chart=OCI, chart_version="15.4.2")),
    (
        "deploy my-app web --chart https://charts.example.com/stable/nginx --chart-version v1.2.3-rc.1+b7",
        _deploy(chart="https://charts.example.com/stable/nginx", chart_version="v1.2.3-rc.1+b7"),
    ),
    ("deploy my-app web --chart ./charts/web", _deploy(chart="./charts/web")),
    ("deploy my-app web --chart web-1.0.0.tgz", _deploy(chart="web-1.0.0.tgz")),
    ("deploy my-app web --timeout 10", _deploy(timeout=10)),
    ("deploy my-app web --timeout=3600", _deploy(timeout=3600)),
    (
        f"deploy my-app web@v3 --chart {OCI} --chart-version 1.0.0 --namespace shop --values v.yaml"
        " --set a=b --timeout 600",
        _deploy(
            version="v3",
            chart=OCI,
            chart_version="1.0.0",
            namespace="shop",
            values=("v.yaml",),
            set_values=("a=b",),
            timeout=600,
        ),
    ),
    # undeploy
    ("undeploy my-app web", UndeployCmd("my-app", "web")),
    ("undeploy my-app web@v1.2.3", UndeployCmd("my-app", "web", "v1.2.3")),
    ("/kaas UNDEPLOY 'my-app' \u201cweb\u201d", UndeployCmd("my-app", "web")),
    # apps, check, backups
    ("apps my-app", AppsCmd("my-app")),
    ("check my-app", CheckCmd("my-app")),
    ("/kaas check " + "c" * 40, CheckCmd("c" * 40)),
    ("backups my-app", BackupsCmd("my-app")),
    # backup
    ("backup my-app", BackupCmd("my-app")),
    ("backup my-app --namespace shop", BackupCmd("my-app", "shop")),
    ("backup --namespace=" + "n" * 63 + " my-app", BackupCmd("my-app", "n" * 63)),
    # restore
    ("restore my-app my-app-20261124-131205", RestoreCmd("my-app", "my-app-20261124-131205")),
    ("restore my-app 42", RestoreCmd("my-app", "42")),
    ("restore my-app 42 --overwrite", RestoreCmd("my-app", "42", overwrite=True)),
    ("restore --overwrite my-app 7 --namespace shop", RestoreCmd("my-app", "7", "shop", True)),
    ("restore my-app 7 --namespace=shop", RestoreCmd("my-app", "7", "shop")),
    # help on the new commands
    ("help deploy", Help("deploy")),
    ("help restore", Help("restore")),
    ("deploy my-app web --help", Help("deploy")),
    ("restore -h", Help("restore")),
]


@pytest.mark.parametrize(("text", "expected"), VALID_APPS, ids=[repr(t)[:60] for t, _ in VALID_APPS])
def test_valid_app_and_backup_lines(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "kind", "file_id"),
    [
        ("deploy", None, None),
        ("deploy my-app web", None, None),
        (f"deploy my-app web {URL}", "url", None),
        (f"deploy my-app web {PERMALINK}", "slack_file", "F0ABCDEF12"),
        (
            "deploy my-app web https://files.slack.com/files-pri/T0123ABC-F0ABCDEF12/app.yaml",
            "slack_file",
            "F0ABCDEF12",
        ),
        ("deploy my-app web F0ABCDEF12", "slack_file", "F0ABCDEF12"),
        # Look-alikes of a Slack file are plain addresses or paths.
        ("deploy my-app web https://acme.slack.com.evil.example/files/U1/F0ABCDEF12/a", "url", None),
        ("deploy my-app web https://example.com/files/U1/F0ABCDEF12/a", "url", None),
        ("deploy my-app web f0abcdef12", "path", None),
        ("deploy my-app web F0ABC", "path", None),
        ("deploy my-app web ./web.yaml", "path", None),
        (f"deploy my-app web --chart {OCI}", "chart", None),
        ("deploy my-app web --chart ./charts/web", "chart", None),
    ],
)
def test_deploy_source_kind(text: str, kind: str | None, file_id: str | None) -> None:
    command = parse(text)
    assert isinstance(command, DeployCmd), command
    assert command.source_kind == kind
    assert command.slack_file_id == file_id


def _case(case_id: str, text: str, subcommand: str | None, phrase: str) -> object:
    return pytest.param(text, subcommand, phrase, id=case_id)


SECRET_URL = "https://deployer:hunter2@example.com/web.yaml"

# (text, the subcommand whose usage must come back (None: general usage), a phrase the message must contain)
HOSTILE_APPS = [
    # deploy: arguments
    _case(
        "deploy-options-without-anything", "deploy --namespace shop", "deploy", "a cluster name and an app"
    ),
    _case("deploy-chart-without-app", f"deploy my-app --chart {OCI}", "deploy", "paste YAML into a form"),
    _case("deploy-set-without-app", "deploy my-app --set a=b", "deploy", "a cluster name and an app"),
    _case("deploy-extra", f"deploy my-app web {URL} extra", "deploy", "`extra` is extra"),
    _case("deploy-unquoted-space", "deploy my-app web /tmp/my apps/web.yaml", "deploy", "is extra"),
    # deploy: the cluster
    _case("deploy-cluster-upper", "deploy MyApp web", "deploy", "Try `myapp`"),
    _case("deploy-cluster-cyrillic", "deploy m\u0430ster web", "deploy", "U+0430"),
    _case("deploy-cluster-long", "deploy " + "a" * 41 + " web", "deploy", "a cluster name has at most 40"),
    _case("deploy-cluster-dash", "deploy -my-app web", "deploy", "can't be a cluster name"),
    # deploy: the app
    _case("deploy-app-upper", "deploy my-app Web", "deploy", "can't be an app name"),
    _case("deploy-app-underscore", "deploy my-app web_1", "deploy", "Try `web-1`"),
    _case("deploy-app-cyrillic", "deploy my-app w\u0435b", "deploy", "U+0435"),
    _case("deploy-app-fullwidth", "deploy my-app \uff57eb", "deploy", "U+FF57"),
    _case("deploy-app-long", "deploy my-app " + "w" * 41, "deploy", "an app name has at most 40"),
    _case("deploy-app-dash", "deploy my-app -web", "deploy", "can't be an app name"),
    _case("deploy-app-trailing-dash", "deploy my-app web-", "deploy", "starting and ending"),
    _case("deploy-app-empty", "deploy my-app ''", "deploy", "app name is empty"),
    _case("deploy-app-only-version", "deploy my-app @v1", "deploy", "app name is empty"),
    _case("deploy-app-is-a-url", f"deploy my-app {URL}", "deploy", "looks like a file or an address"),
    _case("deploy-app-is-a-file", "deploy my-app web.yaml", "deploy", "looks like a file or an address"),
    _case("deploy-app-is-a-slack-file", "deploy my-app F0ABCDEF12", "deploy", "not an app name"),
    _case("deploy-app-colon-version", "deploy my-app web:1.2", "deploy", "Try `web@1.2`"),
    _case("deploy-app-injection", "deploy my-app $(id)", "deploy", "can't be an app name"),
    # deploy: the version
    _case("deploy-empty-version", "deploy my-app web@", "deploy", "no version after '@'"),
    _case("deploy-version-dash", "deploy my-app web@-v1", "deploy", "can't be an app version"),
    _case("deploy-version-trailing-dot", "deploy my-app web@v1.", "deploy", "can't be an app version"),
    _case("deploy-version-slash", "deploy my-app web@1/2", "deploy", "can't be an app version"),
    _case("deploy-version-plus", "deploy my-app web@v1+b7", "deploy", "can't be an app version"),
    _case("deploy-version-two-ats", "deploy my-app web@v1@v2", "deploy", "can't be an app version"),
    _case("deploy-version-dotless-i", "deploy my-app web@v\u0131", "deploy", "can't be an app version"),
    _case("deploy-version-long", "deploy my-app web@" + "v" * 64, "deploy", "1 to 63"),
    _case("undeploy-empty-version", "undeploy my-app web@", "undeploy", "no version after '@'"),
    # deploy: --namespace
    _case("deploy-namespace-upper", "deploy my-app web --namespace Shop", "deploy", "Try `shop`"),
    _case(
        "deploy-namespace-underscore",
        "deploy my-app web --namespace kube_system",
        "deploy",
        "Try `kube-system`",
    ),
    _case("deploy-namespace-dash", "deploy my-app web --namespace -shop", "deploy", "can't be a namespace"),
    _case("deploy-namespace-long", "deploy my-app web --namespace " + "n" * 64, "deploy", "at most 63"),
    _case("deploy-namespace-cyrillic", "deploy my-app web --namespace sh\u043ep", "deploy", "U+043E"),
    _case("deploy-namespace-empty", "deploy my-app web --namespace=", "deploy", "namespace is empty"),
    _case("deploy-namespace-missing", "deploy my-app web --namespace", "deploy", "`--namespace shop`"),
    _case(
        "deploy-namespace-twice", "deploy my-app web --namespace a --namespace=b", "deploy", "more than once"
    ),
    # deploy: --set
    _case("set-without-equals", "deploy my-app web --set replicaCount", "deploy", "has no '='"),
    _case("set-dash-key", "deploy my-app web --set=-x=1", "deploy", "can't be a `--set` key"),
    _case("set-dash-key-spaced", "deploy my-app web --set -x=1", "deploy", "not starting with '-'"),
    _case("set-empty-key", "deploy my-app web --set =1", "deploy", "An empty key"),
    _case("set-space-in-key", "deploy my-app web --set 'a b=1'", "deploy", "can't be a `--set` key"),
    _case("set-unicode-key", "deploy my-app web --set r\u0435plicas=1", "deploy", "can't be a `--set` key"),
    _case("set-control-character", "deploy my-app web --set 'k=a\x1bb'", "deploy", "control character"),
    _case("set-too-long", "deploy my-app web --set k=" + "v" * 999, "deploy", "1001 characters long"),
    _case("set-empty", "deploy my-app web --set=", "deploy", "an empty value"),
    _case("set-missing", "deploy my-app web --set", "deploy", "needs a value"),
    _case("set-then-option", "deploy my-app web --set --namespace x", "deploy", "needs a value"),
    _case(
        "set-51-times",
        "deploy my-app web" + "".join(f" --set k{i}={i}" for i in range(51)),
        "deploy",
        "at most 50 times",
    ),
    # deploy: --values
    _case(
        "values-6-times",
        "deploy my-app web" + "".join(f" --values v{i}.yaml" for i in range(6)),
        "deploy",
        "at most 5 times",
    ),
    _case(
        "values-file-scheme", "deploy my-app web --values file:///etc/passwd", "deploy", "kaas doesn't fetch"
    ),
    _case("values-ftp", "deploy my-app web --values ftp://example.com/v.yaml", "deploy", "only https://"),
    _case("values-userinfo", f"deploy my-app web --values {SECRET_URL}", "deploy", "user name or password"),
    _case("values-empty", "deploy my-app web --values ''", "deploy", "values file is empty"),
    _case(
        "values-control-character", "deploy my-app web --values 'v\x07.yaml'", "deploy", "control character"
    ),
    # deploy: SOURCE
    _case("source-file-scheme", "deploy my-app web file:///etc/passwd", "deploy", "kaas doesn't fetch"),
    _case("source-file-scheme-upper", "deploy my-app web FILE:///etc/passwd", "deploy", "only https://"),
    _case(
        "source-ftp", "deploy my-app web ftp://example.com/web.yaml", "deploy", "only https:// and http://"
    ),
    _case(
        "source-gopher", "deploy my-app web gopher://127.0.0.1:6379/_FLUSHALL", "deploy", "kaas doesn't fetch"
    ),
    _case("source-javascript", "deploy my-app web javascript:alert(1)", "deploy", "kaas doesn't fetch"),
    _case("source-data", "deploy my-app web data:text/yaml,kind:Pod", "deploy", "kaas doesn't fetch"),
    _case("source-dict", "deploy my-app web dict://localhost:11211/stats", "deploy", "kaas doesn't fetch"),
    _case("source-userinfo", f"deploy my-app web {SECRET_URL}", "deploy", "Remove that part"),
    _case("source-user-only", "deploy my-app web https://root@example.com/web.yaml", "deploy", "user name"),
    _case(
        "source-backslash-userinfo",
        "deploy my-app web 'https://evil.example\\@good.example/x'",
        "deploy",
        "a backslash",
    ),
    _case(
        "source-3000-chars", "deploy my-app web https://example.com/" + "a" * 2980, "deploy", "at most 2048"
    ),
    _case("source-space", "deploy my-app web 'https://example.com/a b'", "deploy", "`%20`"),
    _case("source-zero-width", "deploy my-app web https://example.com/\u200bweb", "deploy", "invisible"),
    _case("source-no-host", "deploy my-app web https:///web.yaml", "deploy", "isn't a complete address"),
    _case("source-no-slashes", "deploy my-app web https:example.com/w", "deploy", "isn't a complete address"),
    _case("source-bad-port", "deploy my-app web http://example.com:99999/w", "deploy", "host and port"),
    _case("source-bad-ipv6", "deploy my-app web 'http://[::1/w'", "deploy", "isn't a complete address"),
    _case("source-empty", "deploy my-app web ''", "deploy", "source is empty"),
    _case("source-nul", "deploy my-app web 'w\x00.yaml'", "deploy", "control character"),
    _case("source-odd-scheme", "deploy my-app web localhost:8080/w.yaml", "deploy", "`./NAME`"),
    # deploy: --chart and --chart-version
    _case("source-and-chart", f"deploy my-app web {URL} --chart {OCI}", "deploy", "either SOURCE"),
    _case("chart-and-slack-file", "deploy my-app web F0ABCDEF12 --chart ./c", "deploy", "not both"),
    _case("chart-version-alone", "deploy my-app web --chart-version 1.0.0", "deploy", "goes with `--chart`"),
    _case("chart-version-with-source", f"deploy my-app web {URL} --chart-version 1", "deploy", "`--chart`"),
    _case(
        "chart-version-range", f"deploy my-app web --chart {OCI} --chart-version '>=1.0'", "deploy", "exact"
    ),
    _case(
        "chart-version-empty", f"deploy my-app web --chart {OCI} --chart-version=", "deploy", "An empty value"
    ),
    _case("chart-file-scheme", "deploy my-app web --chart file:///tmp/chart", "deploy", "oci://, https://"),
    _case("chart-ftp", "deploy my-app web --chart ftp://example.com/charts/nginx", "deploy", "doesn't fetch"),
    _case("chart-gopher", "deploy my-app web --chart gopher://example.com/nginx", "deploy", "doesn't fetch"),
    _case("chart-javascript", "deploy my-app web --chart javascript:alert(1)", "deploy", "doesn't fetch"),
    _case("chart-userinfo", "deploy my-app web --chart oci://u:hunter2@r.example/c/x", "deploy", "password"),
    _case(
        "chart-3000-chars",
        "deploy my-app web --chart oci://r.example/" + "c" * 2990,
        "deploy",
        "at most 2048",
    ),
    _case(
        "chart-no-name",
        "deploy my-app web --chart https://charts.example.com/",
        "deploy",
        "`--chart https://",
    ),
    _case(
        "chart-oci-no-path",
        "deploy my-app web --chart oci://registry.example.com",
        "deploy",
        "`--chart oci://",
    ),
    _case("chart-twice", f"deploy my-app web --chart {OCI} --chart ./c", "deploy", "more than once"),
    # deploy: --timeout
    _case("timeout-5", "deploy my-app web --timeout 5", "deploy", "from 10 to 3600"),
    _case("timeout-99999", "deploy my-app web --timeout 99999", "deploy", "from 10 to 3600"),
    _case("timeout-negative", "deploy my-app web --timeout -1", "deploy", "from 10 to 3600"),
    _case("timeout-words", "deploy my-app web --timeout abc", "deploy", "from 10 to 3600"),
    _case("timeout-unit", "deploy my-app web --timeout 10m", "deploy", "from 10 to 3600"),
    _case("timeout-empty", "deploy my-app web --timeout=", "deploy", "an empty value"),
    _case("timeout-twice", "deploy my-app web --timeout 10 --timeout=20", "deploy", "more than once"),
    # deploy: unknown options, with Helm's and kubectl's habits
    _case(
        "deploy-misspelt-option", "deploy my-app web --namspace shop", "deploy", "Did you mean `--namespace`?"
    ),
    _case("deploy-helm-f", "deploy my-app web -f v.yaml", "deploy", "Did you mean `--values`?"),
    _case("deploy-kubectl-n", "deploy my-app web -n shop", "deploy", "Did you mean `--namespace`?"),
    _case("deploy-set-string", "deploy my-app web --set-string a=b", "deploy", "Did you mean `--set`?"),
    _case("deploy-repo", "deploy my-app web --repo https://x.example", "deploy", "Did you mean `--chart`?"),
    _case("deploy-unknown", "deploy my-app web --force", "deploy", "isn't an option of `deploy`"),
    _case("deploy-overwrite", "deploy my-app web --overwrite", "deploy", "isn't an option of `deploy`"),
    # deploy: Slack markup comes back inert
    _case("deploy-channel-ping", "deploy my-app <!channel>", "deploy", "&lt;!channel&gt;"),
    # undeploy
    _case("undeploy-nothing", "undeploy", "undeploy", "needs a cluster name"),
    _case("undeploy-no-app", "undeploy my-app", "undeploy", "needs APP"),
    _case("undeploy-extra", "undeploy my-app web v2", "undeploy", "`v2` is extra"),
    _case("undeploy-cluster-upper", "undeploy My-App web", "undeploy", "can't be a cluster name"),
    _case("undeploy-app-upper", "undeploy my-app WEB", "undeploy", "Try `web`"),
    _case("undeploy-app-cyrillic", "undeploy my-app w\u0435b", "undeploy", "U+0435"),
    _case("undeploy-app-long", "undeploy my-app " + "w" * 41, "undeploy", "41 characters long"),
    _case("undeploy-app-dash", "undeploy my-app -web", "undeploy", "can't be an app name"),
    _case("undeploy-bad-version", "undeploy my-app web@v/1", "undeploy", "can't be an app version"),
    _case("undeploy-option", "undeploy my-app web --all", "undeploy", "only a cluster name and an app"),
    # apps, check, backups
    _case("apps-nothing", "apps", "apps", "needs a cluster name"),
    _case("apps-extra", "apps my-app web", "apps", "is extra"),
    _case("apps-upper", "apps MY-APP", "apps", "Try `my-app`"),
    _case("apps-option", "apps my-app --all", "apps", "takes no options"),
    _case("check-nothing", "check", "check", "needs a cluster name"),
    _case("check-extra", "check my-app now", "check", "is extra"),
    _case("check-cyrillic", "check m\u0430ster", "check", "U+0430"),
    _case("check-dash", "check -my-app", "check", "can't be a cluster name"),
    _case("check-option", "check my-app --verbose", "check", "takes no options"),
    _case("backups-nothing", "backups", "backups", "needs a cluster name"),
    _case("backups-extra", "backups my-app 2", "backups", "is extra"),
    _case("backups-long", "backups " + "b" * 41, "backups", "at most 40"),
    # backup
    _case("backup-nothing", "backup", "backup", "needs a cluster name"),
    _case("backup-namespace-only", "backup --namespace shop", "backup", "needs a cluster name"),
    _case("backup-extra", "backup my-app shop", "backup", "is extra"),
    _case("backup-bad-namespace", "backup my-app --namespace Shop_1", "backup", "Try `shop-1`"),
    _case("backup-namespace-missing", "backup my-app --namespace", "backup", "needs a value"),
    _case("backup-namespace-twice", "backup my-app --namespace a --namespace a", "backup", "more than once"),
    _case(
        "backup-misspelt-option", "backup my-app --namepsace shop", "backup", "Did you mean `--namespace`?"
    ),
    _case("backup-overwrite", "backup my-app --overwrite", "backup", "isn't an option of `backup`"),
    # restore
    _case("restore-nothing", "restore", "restore", "needs a cluster name"),
    _case("restore-no-backup", "restore my-app", "restore", "needs BACKUP"),
    _case("restore-no-backup-but-options", "restore my-app --overwrite", "restore", "needs BACKUP"),
    _case("restore-extra", "restore my-app b1 b2", "restore", "`b2` is extra"),
    _case("restore-bad-backup", "restore my-app Bad_Backup", "restore", "can't be a backup name"),
    _case("restore-backup-dash", "restore my-app -1", "restore", "can't be a backup name"),
    _case("restore-backup-empty", "restore my-app ''", "restore", "backup name is empty"),
    _case("restore-backup-long", "restore my-app " + "b" * 64, "restore", "a backup name has at most 63"),
    _case("restore-backup-cyrillic", "restore my-app b\u0430ckup-1", "restore", "U+0430"),
    _case(
        "restore-backup-path", "restore my-app ../etc/backup", "restore", "`/kaas backups CLUSTER` lists them"
    ),
    _case("restore-overwrite-yes", "restore my-app b1 --overwrite=yes", "restore", "takes no value"),
    _case(
        "restore-overwrite-twice", "restore my-app b1 --overwrite --overwrite", "restore", "more than once"
    ),
    _case("restore-bad-namespace", "restore my-app b1 --namespace -x", "restore", "can't be a namespace"),
    _case(
        "restore-misspelt-option", "restore my-app b1 --overwite", "restore", "Did you mean `--overwrite`?"
    ),
    _case("restore-unknown-option", "restore my-app b1 --force", "restore", "isn't an option of `restore`"),
    # near misses and habits from other tools
    _case("synonym-install", "install my-app web", None, "Did you mean `deploy`?"),
    _case("synonym-release", "release my-app web", None, "Did you mean `deploy`?"),
    _case("synonym-uninstall", "uninstall my-app web", None, "Did you mean `undeploy`?"),
    _case("synonym-releases", "releases my-app", None, "Did you mean `apps`?"),
    _case("synonym-health", "health my-app", None, "Did you mean `check`?"),
    _case("synonym-usage", "usage my-app", None, "Did you mean `check`?"),
    _case("synonym-top", "top my-app", None, "Did you mean `check`?"),
    _case("synonym-snapshot", "snapshot my-app", None, "Did you mean `backup`?"),
    _case("typo-deploy", "deplyo my-app web", None, "Did you mean `deploy`?"),
    _case("typo-restore", "restor my-app b1", None, "Did you mean `restore`?"),
    _case("typo-backups", "backpus my-app", None, "Did you mean `backups`?"),
    _case("help-typo", "help deplyo", "help", "Did you mean `deploy`?"),
    _case("help-extra", "help deploy restore", "help", "takes one command name"),
    _case("deploy-unclosed-quote", "deploy my-app web 'https://x", "deploy", "quote"),
]

#: Words that show a message goes on to say what to do.
ACTION_CUES = (
    "e.g.",
    "Try",
    "Remove",
    "Give",
    "Use",
    "Write",
    "Add",
    "Keep",
    "Put",
    "Merge",
    "Retype",
    "Close",
    "Did you mean",
    "Its options are",
    "Send",
)


@pytest.mark.parametrize(("text", "subcommand", "phrase"), HOSTILE_APPS)
def test_hostile_app_and_backup_lines(text: str, subcommand: str | None, phrase: str) -> None:
    result = _check_error(parse(text), messages.usage(subcommand))
    assert phrase in result.message, result.message
    assert any(cue in result.message for cue in ACTION_CUES), result.message


def test_an_address_with_a_password_is_not_echoed() -> None:
    for text in (
        f"deploy my-app web {SECRET_URL}",
        f"deploy my-app web --values {SECRET_URL}",
        "deploy my-app web --chart oci://deployer:hunter2@registry.example.com/c/x",
        "deploy my-app web ftp://deployer:hunter2@example.com/web.yaml",
        "deploy my-app web 'https://deployer:hunter2@example.com/a b'",
        "deploy my-app web https://deployer:hunter2@example.com:99999/",
        f"deploy my-app {SECRET_URL}",
        f"deploy my-app web {URL} {SECRET_URL}",
        f"info {SECRET_URL}",
    ):
        result = parse(text)
        assert isinstance(result, ParseError), result
        assert "hunter2" not in result.message and "deployer" not in result.message


def test_no_other_backup_is_suggested() -> None:
    for text in ("restore my-app -1", "restore my-app My-App-20261124-131205", "restore my-app b_1"):
        result = parse(text)
        assert isinstance(result, ParseError), result
        assert "Try `" not in result.message


def test_a_slack_file_link_must_be_on_slack() -> None:
    assert slack_file_id(PERMALINK) == "F0ABCDEF12"
    assert slack_file_id("https://slack.com/files/U1/F0ABCDEF12") == "F0ABCDEF12"
    assert slack_file_id("https://acme.slack.com/files/U1/not-a-file/x") is None
    assert slack_file_id("https://acme.slack.com/archives/C1/p1") is None
    assert slack_file_id("oci://acme.slack.com/files/U1/F0ABCDEF12/x") is None
    assert slack_file_id("https://evilslack.com/files/U1/F0ABCDEF12/x") is None
    assert slack_file_id("https://[::1/files/U1/F0ABCDEF12") is None
    assert slack_file_id("F0ABCDEF1234567") is None


def test_repeated_options_keep_their_order() -> None:
    command = parse("deploy my-app web --set b=2 --values z.yaml --set a=1 --values a.yaml")
    assert isinstance(command, DeployCmd)
    assert command.set_values == ("b=2", "a=1")
    assert command.values == ("z.yaml", "a.yaml")


def test_the_first_problem_of_a_deploy_line_is_reported() -> None:
    result = parse("deploy my-app Web@ file:///etc/passwd --timeout 1")
    assert isinstance(result, ParseError)
    assert "`Web`" in result.message and "file://" not in result.message


def test_random_app_and_backup_lines_never_raise() -> None:
    rng = random.Random(20261124)
    words = [
        "deploy",
        "undeploy",
        "apps",
        "check",
        "backup",
        "backups",
        "restore",
        "/kaas",
        "my-app",
        "web",
        "web@",
        "web@v1.2.3",
        "@",
        "@@",
        "Web",
        "w\u0435b",
        "-web",
        "42",
        "-1",
        "F0ABCDEF12",
        URL,
        PERMALINK,
        OCI,
        SECRET_URL,
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://x",
        "https://",
        "https://[::1",
        "http://x:99999/",
        "./web.yaml",
        "--namespace",
        "--namespace=",
        "--namespace=shop",
        "--values",
        "--values=v.yaml",
        "--set",
        "--set=a=b",
        "--set=-x=1",
        "a=b",
        "=",
        "--chart",
        "--chart=./c",
        "--chart-version",
        "1.0.0",
        "--timeout",
        "--timeout=9",
        "600",
        "--overwrite",
        "--overwrite=yes",
        "-f",
        "-n",
        "--",
        "-",
        "-h",
        "'",
        '"',
        "\\",
        "\x00",
        "\u202e",
        "<!channel>",
        "<https://x.example|y>",
        "&lt;",
        "x" * 300,
    ]
    separators = [" ", " ", " ", "", "\t", "\u00a0", "="]
    for _ in range(4000):
        count = rng.randint(0, 12)
        text = "".join(rng.choice(words) + rng.choice(separators) for _ in range(count))
        if rng.random() < 0.7:
            text = rng.choice(words[:7]) + " " + text
        result = parse(text)
        assert isinstance(result, Help | ParseError | Command), (text, result)
        if isinstance(result, ParseError):
            assert result.message and result.usage in (*messages.USAGE.values(), messages.GENERAL_USAGE)
            assert "<" not in result.message and ">" not in result.message, (text, result)
            assert all(ch.isprintable() for ch in result.message), (text, result)
        elif isinstance(result, DeployCmd):
            assert result.source_kind in (None, "url", "slack_file", "path", "chart")
            assert not (result.source and result.chart)


def test_new_commands_are_frozen() -> None:
    command = parse(f"deploy my-app web {URL}")
    assert isinstance(command, DeployCmd)
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.source = "file:///etc/passwd"  # type: ignore[misc]


# --- the message catalogue --------------------------------------------------------------------------------


def test_every_subcommand_has_usage_help_and_a_place_in_the_overview() -> None:
    assert set(messages.USAGE) == set(SUBCOMMANDS)
    assert set(messages.HELP_TOPICS) == set(SUBCOMMANDS)
    for subcommand in SUBCOMMANDS:
        assert messages.usage(subcommand).startswith(f"/kaas {subcommand}")
        assert f"/kaas {subcommand}" in messages.HELP_TEXT
        assert f"/kaas {subcommand}" in messages.GENERAL_USAGE or subcommand in messages.GENERAL_USAGE
        assert messages.help_text(subcommand) == messages.HELP_TOPICS[subcommand]


def test_every_subcommand_has_an_example_that_parses_and_appears_in_its_help() -> None:
    assert set(messages.EXAMPLES) == set(SUBCOMMANDS)
    assert set(messages.ARGUMENTS) == set(SUBCOMMANDS)
    for subcommand, example in messages.EXAMPLES.items():
        assert f"`{example}`" in messages.HELP_TOPICS[subcommand]
        assert not isinstance(parse(example), ParseError), example


def test_deploy_help_mentions_the_form_and_where_secrets_go() -> None:
    deploy = messages.HELP_TOPICS["deploy"]
    assert "send just `/kaas deploy`" in deploy
    assert "secret" in deploy and "values file" in deploy
    assert "paste YAML into a form" in messages.HELP_TEXT
    assert all(len(line) <= 200 for line in messages.HELP_TEXT.splitlines())


def test_usage_falls_back_to_the_general_line() -> None:
    assert messages.usage(None) == messages.GENERAL_USAGE
    assert messages.usage("nonsense") == messages.GENERAL_USAGE
    assert messages.help_text(None) == messages.HELP_TEXT


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a<b>c", "a&lt;b&gt;c"),
        ("&", "&amp;"),
        ("&lt;", "&amp;lt;"),
        ("<!channel> & <@U1>", "&lt;!channel&gt; &amp; &lt;@U1&gt;"),
        ("plain", "plain"),
    ],
)
def test_escape(raw: str, escaped: str) -> None:
    assert messages.escape(raw) == escaped


def test_shown_leaves_out_the_user_and_password_of_addresses() -> None:
    assert messages.shown("https://u:hunter2@x.example/a") == "`https://…@x.example/a`"
    assert messages.shown("see oci://a@b@r.example/c?x=@y") == "`see oci://…@r.example/c?x=@y`"
    assert messages.shown("me@example.com") == "`me@example.com`"


def test_shown_is_short_visible_escaped_and_stays_in_its_code_span() -> None:
    assert messages.shown("<x>") == "`&lt;x&gt;`"
    assert messages.shown("a\x00b\u202ec") == "`a\\x00b\\u202ec`"
    assert messages.shown("`id`").count("`") == 2
    long = messages.shown("y" * 500)
    assert long == "`" + "y" * messages.SHOWN_MAX_CHARS + "…`"
