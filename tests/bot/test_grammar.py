"""The `/kaas` grammar: valid lines become typed commands; hostile lines become helpful ParseErrors."""

from __future__ import annotations

import dataclasses
import random

import pytest

from bot import messages
from bot.grammar import (
    SUBCOMMANDS,
    CreateCmd,
    DeleteCmd,
    Help,
    InfoCmd,
    KubeconfigCmd,
    ListCmd,
    ParseError,
    RegisterCmd,
    ScaleCmd,
    parse,
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


# --- the message catalogue --------------------------------------------------------------------------------


def test_every_subcommand_has_usage_help_and_a_place_in_the_overview() -> None:
    assert set(messages.USAGE) == set(SUBCOMMANDS)
    assert set(messages.HELP_TOPICS) == set(SUBCOMMANDS)
    for subcommand in SUBCOMMANDS:
        assert messages.usage(subcommand).startswith(f"/kaas {subcommand}")
        assert f"/kaas {subcommand}" in messages.HELP_TEXT
        assert f"/kaas {subcommand}" in messages.GENERAL_USAGE or subcommand in messages.GENERAL_USAGE
        assert messages.help_text(subcommand) == messages.HELP_TOPICS[subcommand]


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


def test_shown_is_short_visible_escaped_and_stays_in_its_code_span() -> None:
    assert messages.shown("<x>") == "`&lt;x&gt;`"
    assert messages.shown("a\x00b\u202ec") == "`a\\x00b\\u202ec`"
    assert messages.shown("`id`").count("`") == 2
    long = messages.shown("y" * 500)
    assert long == "`" + "y" * messages.SHOWN_MAX_CHARS + "…`"
