/* Unit tests for the shell-word expander. Most cases are data: BuildKit's
 * own tables (frontend/dockerfile/shell envVarTest, wordsTest and the cases
 * of lex_test.go) followed by ours, each expected value checked against
 * BuildKit's lex.go. */
#include "tests/unit/sb_test.h"

#include "parser/shell.h"
#include "runtime/core/error.h"

enum { RQ = 1, RE = 2, SQ = 4, SU = 8 }; /* raw quotes/escapes, skip quotes/unset */

#define SV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NONE ((const char *const[]){ NULL })

struct expand_case {
	unsigned flags;
	char escape;
	const char *in;
	const char *want; /* NULL: an error */
	const char *err;  /* its whole message, or NULL for any */
};

struct words_case {
	unsigned flags;
	char escape;
	const char *const *env; /* NULL-terminated, or NULL for env_words */
	const char *in;
	const char *const *want; /* NULL-terminated, or NULL for an error */
};

struct match_case {
	const char *in;
	const char *const *env;
	const char *want; /* NULL: an error */
	const char *const *matched, *const *unmatched;
};

static const char *const env_bk[] = {
	"PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL=",
};
static const char *const env_own[] = {
	"SET=val", "EMPTY=", "STAR=a*b?c", "SP= a  b ", "PATH=/usr/local/bin:/usr/bin:/bin",
	"FILE=archive.tar.gz", "URL=http://example.com/a/b", "NL=l1\nl2", "BR=[ab]x",
	"WIN=C:\\dir\\file", "NOEQ", "=anon", "DUP=first", "DUP=second", "AB=abab",
	"TPL=<$0|$$|${0}|$1|$x|$>",
};
static const char *const env_words[] = {
	"SP= a  b ", "EMPTY=", "SET=val",
};

/* BuildKit's envVarTest: expanded with ProcessWord in env_bk; NULL is an
 * expected error. */
static const struct expand_case envvar_cases[] = {
	{ 0, '\\', "hello", "hello", NULL },
	{ 0, '\\', "he'll'o", "hello", NULL },
	{ 0, '\\', "he'llo", NULL, NULL },
	{ 0, '\\', "he\\'llo", "he'llo", NULL },
	{ 0, '\\', "he\\\\'llo", NULL, NULL },
	{ 0, '\\', "abc\\tdef", "abctdef", NULL },
	{ 0, '\\', "\"abc\\tdef\"", "abc\\tdef", NULL },
	{ 0, '\\', "\"abc\\\\tdef\"", "abc\\tdef", NULL },
	{ 0, '\\', "'abc\\tdef'", "abc\\tdef", NULL },
	{ 0, '\\', "hello\\", "hello", NULL },
	{ 0, '\\', "hello\\\\", "hello\\", NULL },
	{ 0, '\\', "\"hello", NULL, NULL },
	{ 0, '\\', "\"hello\\\"", NULL, NULL },
	{ 0, '\\', "\"hel'lo\"", "hel'lo", NULL },
	{ 0, '\\', "'hello", NULL, NULL },
	{ 0, '\\', "'hello\\'", "hello\\", NULL },
	{ 0, '\\', "'hello\\there'", "hello\\there", NULL },
	{ 0, '\\', "'hello\\\\there'", "hello\\\\there", NULL },
	{ 0, '\\', "\"''\"", "''", NULL },
	{ 0, '\\', "$.", "$.", NULL },
	{ 0, '\\', "$1", "", NULL },
	{ 0, '\\', "he$1x", "hex", NULL },
	{ 0, '\\', "he$.x", "he$.x", NULL },
	{ 0, '\\', "he$pwd.", "he.", NULL },
	{ 0, '\\', "he$PWD", "he/home", NULL },
	{ 0, '\\', "he\\$PWD", "he$PWD", NULL },
	{ 0, '\\', "he\\\\$PWD", "he\\/home", NULL },
	{ 0, '\\', "\"he\\$PWD\"", "he$PWD", NULL },
	{ 0, '\\', "\"he\\\\$PWD\"", "he\\/home", NULL },
	{ 0, '\\', "\\${}", "${}", NULL },
	{ 0, '\\', "\\${}aaa", "${}aaa", NULL },
	{ 0, '\\', "he\\${}", "he${}", NULL },
	{ 0, '\\', "he\\${}xx", "he${}xx", NULL },
	{ 0, '\\', "${}", NULL, NULL },
	{ 0, '\\', "${}aaa", NULL, NULL },
	{ 0, '\\', "he${}", NULL, NULL },
	{ 0, '\\', "he${}xx", NULL, NULL },
	{ 0, '\\', "he${hi}", "he", NULL },
	{ 0, '\\', "he${hi}xx", "hexx", NULL },
	{ 0, '\\', "he${PWD}", "he/home", NULL },
	{ 0, '\\', "he${.}", NULL, NULL },
	{ 0, '\\', "he${XXX:-000}xx", "he000xx", NULL },
	{ 0, '\\', "he${PWD:-000}xx", "he/homexx", NULL },
	{ 0, '\\', "he${XXX:-$PWD}xx", "he/homexx", NULL },
	{ 0, '\\', "he${XXX:-${PWD:-yyy}}xx", "he/homexx", NULL },
	{ 0, '\\', "he${XXX:-${YYY:-yyy}}xx", "heyyyxx", NULL },
	{ 0, '\\', "he${XXX:YYY}", NULL, NULL },
	{ 0, '\\', "he${XXX:+${PWD}}xx", "hexx", NULL },
	{ 0, '\\', "he${PWD:+${XXX}}xx", "hexx", NULL },
	{ 0, '\\', "he${PWD:+${SHELL}}xx", "hebashxx", NULL },
	{ 0, '\\', "he${XXX:+000}xx", "hexx", NULL },
	{ 0, '\\', "he${PWD:+000}xx", "he000xx", NULL },
	{ 0, '\\', "'he${XX}'", "he${XX}", NULL },
	{ 0, '\\', "\"he${PWD}\"", "he/home", NULL },
	{ 0, '\\', "\"he'$PWD'\"", "he'/home'", NULL },
	{ 0, '\\', "\"$PWD\"", "/home", NULL },
	{ 0, '\\', "'$PWD'", "$PWD", NULL },
	{ 0, '\\', "'\\$PWD'", "\\$PWD", NULL },
	{ 0, '\\', "'\"hello\"'", "\"hello\"", NULL },
	{ 0, '\\', "he\\$PWD", "he$PWD", NULL },
	{ 0, '\\', "\"he\\$PWD\"", "he$PWD", NULL },
	{ 0, '\\', "'he\\$PWD'", "he\\$PWD", NULL },
	{ 0, '\\', "he${PWD", NULL, NULL },
	{ 0, '\\', "he${PWD:=000}xx", NULL, NULL },
	{ 0, '\\', "he${PWD:+${PWD}:}xx", "he/home:xx", NULL },
	{ 0, '\\', "he${XXX:-\\$PWD:}xx", "he$PWD:xx", NULL },
	{ 0, '\\', "he${XXX:-\\${PWD}z}xx", "he${PWDz}xx", NULL },
	{ 0, '\\', "안녕하세요", "안녕하세요", NULL },
	{ 0, '\\', "안'녕'하세요", "안녕하세요", NULL },
	{ 0, '\\', "안'녕하세요", NULL, NULL },
	{ 0, '\\', "안녕\\'하세요", "안녕'하세요", NULL },
	{ 0, '\\', "안\\\\'녕하세요", NULL, NULL },
	{ 0, '\\', "안녕\\t하세요", "안녕t하세요", NULL },
	{ 0, '\\', "\"안녕\\t하세요\"", "안녕\\t하세요", NULL },
	{ 0, '\\', "'안녕\\t하세요", NULL, NULL },
	{ 0, '\\', "안녕하세요\\", "안녕하세요", NULL },
	{ 0, '\\', "안녕하세요\\\\", "안녕하세요\\", NULL },
	{ 0, '\\', "\"안녕하세요", NULL, NULL },
	{ 0, '\\', "\"안녕하세요\\\"", NULL, NULL },
	{ 0, '\\', "\"안녕'하세요\"", "안녕'하세요", NULL },
	{ 0, '\\', "'안녕하세요", NULL, NULL },
	{ 0, '\\', "'안녕하세요\\'", "안녕하세요\\", NULL },
	{ 0, '\\', "안녕$1x", "안녕x", NULL },
	{ 0, '\\', "안녕$.x", "안녕$.x", NULL },
	{ 0, '\\', "안녕$pwd.", "안녕.", NULL },
	{ 0, '\\', "안녕$PWD", "안녕/home", NULL },
	{ 0, '\\', "안녕\\$PWD", "안녕$PWD", NULL },
	{ 0, '\\', "안녕\\\\$PWD", "안녕\\/home", NULL },
	{ 0, '\\', "안녕\\${}", "안녕${}", NULL },
	{ 0, '\\', "안녕\\${}xx", "안녕${}xx", NULL },
	{ 0, '\\', "안녕${}", NULL, NULL },
	{ 0, '\\', "안녕${}xx", NULL, NULL },
	{ 0, '\\', "안녕${hi}", "안녕", NULL },
	{ 0, '\\', "안녕${hi}xx", "안녕xx", NULL },
	{ 0, '\\', "안녕${PWD}", "안녕/home", NULL },
	{ 0, '\\', "안녕${.}", NULL, NULL },
	{ 0, '\\', "안녕${XXX:-000}xx", "안녕000xx", NULL },
	{ 0, '\\', "안녕${PWD:-000}xx", "안녕/homexx", NULL },
	{ 0, '\\', "안녕${XXX:-$PWD}xx", "안녕/homexx", NULL },
	{ 0, '\\', "안녕${XXX:-${PWD:-yyy}}xx", "안녕/homexx", NULL },
	{ 0, '\\', "안녕${XXX:-${YYY:-yyy}}xx", "안녕yyyxx", NULL },
	{ 0, '\\', "안녕${XXX:YYY}", NULL, NULL },
	{ 0, '\\', "안녕${XXX:+${PWD}}xx", "안녕xx", NULL },
	{ 0, '\\', "안녕${PWD:+${XXX}}xx", "안녕xx", NULL },
	{ 0, '\\', "안녕${PWD:+${SHELL}}xx", "안녕bashxx", NULL },
	{ 0, '\\', "안녕${XXX:+000}xx", "안녕xx", NULL },
	{ 0, '\\', "안녕${PWD:+000}xx", "안녕000xx", NULL },
	{ 0, '\\', "'안녕${XX}'", "안녕${XX}", NULL },
	{ 0, '\\', "\"안녕${PWD}\"", "안녕/home", NULL },
	{ 0, '\\', "\"안녕'$PWD'\"", "안녕'/home'", NULL },
	{ 0, '\\', "'\"안녕\"'", "\"안녕\"", NULL },
	{ 0, '\\', "안녕\\$PWD", "안녕$PWD", NULL },
	{ 0, '\\', "\"안녕\\$PWD\"", "안녕$PWD", NULL },
	{ 0, '\\', "'안녕\\$PWD'", "안녕\\$PWD", NULL },
	{ 0, '\\', "안녕${PWD", NULL, NULL },
	{ 0, '\\', "안녕${PWD:=000}xx", NULL, NULL },
	{ 0, '\\', "안녕${PWD:+${PWD}:}xx", "안녕/home:xx", NULL },
	{ 0, '\\', "안녕${XXX:-\\$PWD:}xx", "안녕$PWD:xx", NULL },
	{ 0, '\\', "안녕${XXX:-\\${PWD}z}xx", "안녕${PWDz}xx", NULL },
	{ 0, '\\', "$KOREAN", "한국어", NULL },
	{ 0, '\\', "안녕$KOREAN", "안녕한국어", NULL },
	{ 0, '\\', "${{aaa}", NULL, NULL },
	{ 0, '\\', "${aaa}}", "}", NULL },
	{ 0, '\\', "${aaa", NULL, NULL },
	{ 0, '\\', "${{aaa:-bbb}", NULL, NULL },
	{ 0, '\\', "${aaa:-bbb}}", "bbb}", NULL },
	{ 0, '\\', "${aaa:-bbb", NULL, NULL },
	{ 0, '\\', "${aaa:-bbb}", "bbb", NULL },
	{ 0, '\\', "${aaa:-${bbb:-ccc}}", "ccc", NULL },
	{ 0, '\\', "${aaa:-bbb ${foo}", NULL, NULL },
	{ 0, '\\', "${aaa:-bbb {foo}", "bbb {foo", NULL },
	{ 0, '\\', "${:}", NULL, NULL },
	{ 0, '\\', "${:-bbb}", NULL, NULL },
	{ 0, '\\', "${:+bbb}", NULL, NULL },
	{ 0, '\\', "${NULL:-x}", "x", NULL },
	{ 0, '\\', "${NULL-x}", "", NULL },
	{ 0, '\\', "${NULL:+x}", "", NULL },
	{ 0, '\\', "${NULL+x}", "x", NULL },
	{ 0, '\\', "${NULL:?}", NULL, NULL },
	{ 0, '\\', "${NULL?}", "", NULL },
};

/* BuildKit's wordsTest: ProcessWords, each case in the environment the
 * "ENV" lines before it built up. */
static const char *const words_env0[] = { NULL };
static const char *const words_env1[] = {
	"hi=hi", NULL
};
static const char *const words_env2[] = {
	"hi=hi", "space=abc  def", NULL
};
static const char *const words_env3[] = {
	"hi=hi", "space=abc  def", "leading=  ab c", NULL
};
static const char *const words_env4[] = {
	"hi=hi", "space=abc  def", "leading=  ab c", "trailing=ab c   ", NULL
};
static const struct words_case words_cases[] = {
	{ 0, '\\', words_env0, "hello",
	  SV("hello") },
	{ 0, '\\', words_env0, "hello${hi}bye",
	  SV("hellobye") },
	{ 0, '\\', words_env1, "hello${hi}bye",
	  SV("hellohibye") },
	{ 0, '\\', words_env2, "hello${space}bye",
	  SV("helloabc", "defbye") },
	{ 0, '\\', words_env2, "hello\"${space}\"bye",
	  SV("helloabc  defbye") },
	{ 0, '\\', words_env2, "hello \"${space}\"bye",
	  SV("hello", "abc  defbye") },
	{ 0, '\\', words_env3, "hello${leading}def",
	  SV("hello", "ab", "cdef") },
	{ 0, '\\', words_env3, "hello\"${leading}\" def",
	  SV("hello  ab c", "def") },
	{ 0, '\\', words_env3, "hello\"${leading}\"",
	  SV("hello  ab c") },
	{ 0, '\\', words_env3, "hello${leading}",
	  SV("hello", "ab", "c") },
	{ 0, '\\', words_env4, "hello${trailing}",
	  SV("helloab", "c") },
	{ 0, '\\', words_env4, "hello${trailing}d",
	  SV("helloab", "c", "d") },
	{ 0, '\\', words_env4, "hello\"${trailing}\"d",
	  SV("helloab c   d") },
	{ 0, '\\', words_env4, "hel\"lo${trailing}\"",
	  SV("helloab c   ") },
	{ 0, '\\', words_env4, "hello\" there  \"",
	  SV("hello there  ") },
	{ 0, '\\', words_env4, "hello there     ",
	  SV("hello", "there") },
	{ 0, '\\', words_env4, "hello\\ there",
	  SV("hello there") },
	{ 0, '\\', words_env4, "hello\" there",
	  NULL },
	{ 0, '\\', words_env4, "hello\\\" there",
	  SV("hello\"", "there") },
};

/* BuildKit's TestProcessWithMatches, TestProcessWithMatchesPlatform and
 * TestShellParserMandatoryEnvVars, then our own. */
static const struct match_case match_cases[] = {
	{ "x",
	  SV("DUMMY=dummy"),
	  "x", NONE, NONE },
	{ "x ${UNUSED}",
	  SV("DUMMY=dummy"),
	  "x ", NONE, SV("UNUSED") },
	{ "x ${FOO}",
	  SV("FOO=y"),
	  "x y", SV("FOO"), NONE },
	{ "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
	  SV("FOO=xxx", "BAR="),
	  "xxx  ccc", SV("BAR", "FOO"), SV("BAZ") },
	{ "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
	  SV("FOO=xxx", "BAR="),
	  "xxx bbb ccc", SV("BAR", "FOO"), SV("BAZ") },
	{ "${FOO:-}",
	  SV("FOO=xxx", "BAR="),
	  "xxx", SV("FOO"), NONE },
	{ "${FOO:-}",
	  NONE,
	  "", NONE, SV("FOO") },
	{ "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
	  SV("FOO=xxx", "BAR="),
	  "aaa bbb ", SV("BAR", "FOO"), SV("BAZ") },
	{ "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
	  SV("FOO=xxx", "BAR="),
	  "aaa  ", SV("BAR", "FOO"), SV("BAZ") },
	{ "${FOO?aaa}",
	  SV("FOO=xxx", "BAR="),
	  "xxx", SV("FOO"), NONE },
	{ "${BAR?bbb}",
	  SV("FOO=xxx", "BAR="),
	  "", SV("BAR"), NONE },
	{ "${BAZ?ccc}",
	  SV("FOO=xxx", "BAR="),
	  NULL, NULL, NULL },
	{ "${FOO:?aaa}",
	  SV("FOO=xxx", "BAR="),
	  "xxx", SV("FOO"), NONE },
	{ "${BAR:?bbb}",
	  SV("FOO=xxx", "BAR="),
	  NULL, NULL, NULL },
	{ "${BAZ:?ccc}",
	  SV("FOO=xxx", "BAR="),
	  NULL, NULL, NULL },
	{ "${BAZ:?}",
	  SV("FOO=xxx", "BAR="),
	  NULL, NULL, NULL },
	{ "${FOO=aaa}",
	  SV("FOO=xxx", "BAR="),
	  NULL, NULL, NULL },
	{ "${FOO=:aaa}",
	  SV("FOO=xxx", "BAR="),
	  NULL, NULL, NULL },
	{ "${FOO=}",
	  NONE,
	  NULL, NULL, NULL },
	{ "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
	  SV("FOO=()[]{}^$.*?|\\x"),
	  "x", SV("FOO"), NONE },
	{ "${FOO%%\\**}",
	  SV("FOO=xx**"),
	  "xx", SV("FOO"), NONE },
	{ "${FOO#*x*y}",
	  SV("FOO=xxyy"),
	  "y", SV("FOO"), NONE },
	{ "${FOO#*}",
	  SV("FOO=xxyy"),
	  "xxyy", SV("FOO"), NONE },
	{ "${FOO#$BAR}",
	  SV("FOO=xxyy", "BAR=x"),
	  "xyy", SV("BAR", "FOO"), NONE },
	{ "${FOO#$BAR}",
	  SV("FOO=xxyy", "BAR="),
	  "xxyy", SV("BAR", "FOO"), NONE },
	{ "${FOO#}",
	  SV("FOO=xxyy"),
	  "xxyy", SV("FOO"), NONE },
	{ "${FOO##*x}",
	  SV("FOO=xxyy"),
	  "yy", SV("FOO"), NONE },
	{ "${FOO##}",
	  SV("FOO=xxyy"),
	  "xxyy", SV("FOO"), NONE },
	{ "${FOO#?\\?}",
	  SV("FOO=?\?\?y"),
	  "?y", SV("FOO"), NONE },
	{ "${ABC:-.}${FOO%x}${ABC:-.}",
	  SV("FOO=xxyy"),
	  ".xxyy.", SV("FOO"), SV("ABC") },
	{ "${FOO%%\\**\\*}",
	  SV("FOO=a***yy*"),
	  "a", SV("FOO"), NONE },
	{ "${FOO%}",
	  SV("FOO=xxyy"),
	  "xxyy", SV("FOO"), NONE },
	{ "${FOO%%$BAR}",
	  SV("FOO=xxyy", "BAR="),
	  "xxyy", SV("BAR", "FOO"), NONE },
	{ "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
	  SV("FOO=/foo*/*/*.txt", "NEEDLE=\\*/"),
	  "/foo.*/*.txt - /foo..*.txt", SV("FOO", "NEEDLE"), NONE },
	{ "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
	  SV("FOO=/tmp/tmp/bar.txt", "NEEDLE=/tmp"),
	  "/tmp/bar.txt - /bar.txt", SV("FOO", "NEEDLE"), NONE },
	{ "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
	  SV("FOO=/a/foo/b/c.txt", "NEEDLE=/?/", "REPLACEMENT=/"),
	  "/foo/b/c.txt - /foo/c.txt", SV("FOO", "NEEDLE", "REPLACEMENT"), NONE },
	{ "${FOO/$NEEDLE/$REPLACEMENT}",
	  SV("FOO=http://google.de", "NEEDLE=http://", "REPLACEMENT=https://"),
	  "https://google.de", SV("FOO", "NEEDLE", "REPLACEMENT"), NONE },
	{ "${FOO//\\//\\/}",
	  SV("FOO=/tmp/foo.txt"),
	  "\\/tmp\\/foo.txt", SV("FOO"), NONE },
	{ "${FOO/$BAR/ww}",
	  SV("FOO=xxyy", "BAR="),
	  "wwxxyy", SV("BAR", "FOO"), NONE },
	{ "${FOO//ww}",
	  SV("FOO=xxyy"),
	  NULL, NULL, NULL },
	{ "${FOO//}",
	  SV("FOO=xxyy"),
	  NULL, NULL, NULL },
	{ "${FOO///}",
	  SV("FOO=xxyy"),
	  "xxyy", SV("FOO"), NONE },
	{ "${FOO///}",
	  NONE,
	  "", NONE, SV("FOO") },
	{ "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
	  SV("VERSION=v1.2.3", "TARGETOS=linux", "TARGETARCH=arm", "TARGETVARIANT=v7"),
	  "something-v1.2.3.linux-arm-v7.tar.gz", SV("TARGETARCH", "TARGETOS", "TARGETVARIANT", "VERSION"), NONE },
	{ "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
	  SV("VERSION=v1.2.3", "TARGETOS=linux", "TARGETARCH=arm64", "TARGETVARIANT="),
	  "something-v1.2.3.linux-arm64.tar.gz", SV("TARGETARCH", "TARGETOS", "TARGETVARIANT", "VERSION"), NONE },
	{ "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
	  SV("VERSION=v1.2.3", "TARGETOS=linux", "TARGETARCH=arm64"),
	  "something-v1.2.3.linux-arm64.tar.gz", SV("TARGETARCH", "TARGETOS", "VERSION"), SV("TARGETVARIANT") },
	{ "${VAR:?message here$ARG}",
	  SV("VAR=plain", "ARG=x"),
	  "plain", SV("ARG", "VAR"), NONE },
	{ "${VAR?message here$ARG}",
	  SV("VAR=plain", "ARG=x"),
	  "plain", SV("ARG", "VAR"), NONE },
	{ "${VAR?message here$ARG}",
	  SV("VAR=", "ARG=x"),
	  "", SV("ARG", "VAR"), NONE },
	{ "$A$A${A}${B:-$C}",
	  SV("A=1"),
	  "111", SV("A"), SV("B", "C") },
	{ "$@ $# $1 $0 $$ ${_x}",
	  NONE,
	  "     ", NONE, SV("#", "$", "0", "1", "@", "_x") },
	{ "${A:+${B:-${C}}}",
	  SV("A=a", "C=c"),
	  "c", SV("A", "C"), SV("B") },
	{ "'$A' \\$B \"$C\"",
	  SV("C=c"),
	  "$A $B c", SV("C"), NONE },
};

/* Every operator with set, empty and unset variables, quoting, both escape
 * tokens, the four modes and every error, in env_own. */
static const struct expand_case own_cases[] = {
	{ 0, '\\', "$SET",
	  "val", NULL },
	{ 0, '\\', "${SET}",
	  "val", NULL },
	{ 0, '\\', "$EMPTY|${EMPTY}|$UNSET|${UNSET}",
	  "|||", NULL },
	{ 0, '\\', "$SET.x ${SET}x $SETx",
	  "val.x valx ", NULL },
	{ 0, '\\', "$NOEQ-",
	  "-", NULL },
	{ 0, '\\', "$DUP",
	  "second", NULL },
	{ 0, '\\', "${/x/y}",
	  "anon", NULL },
	{ 0, '\\', "$",
	  "$", NULL },
	{ 0, '\\', "a$ b$",
	  "a$ b$", NULL },
	{ 0, '\\', "$12x $0x",
	  "x x", NULL },
	{ 0, '\\', "${SET:-w}|${EMPTY:-w}|${UNSET:-w}",
	  "val|w|w", NULL },
	{ 0, '\\', "${SET-w}|${EMPTY-w}|${UNSET-w}",
	  "val||w", NULL },
	{ 0, '\\', "${SET:+w}|${EMPTY:+w}|${UNSET:+w}",
	  "w||", NULL },
	{ 0, '\\', "${SET+w}|${EMPTY+w}|${UNSET+w}",
	  "w|w|", NULL },
	{ 0, '\\', "${SET:?msg}",
	  "val", NULL },
	{ 0, '\\', "${SET?msg}|${EMPTY?msg}",
	  "val|", NULL },
	{ 0, '\\', "${EMPTY:?msg}",
	  NULL, "failed to process \"${EMPTY:?msg}\": EMPTY: msg" },
	{ 0, '\\', "${EMPTY:?}",
	  NULL, "failed to process \"${EMPTY:?}\": EMPTY: is not allowed to be empty" },
	{ 0, '\\', "${UNSET:?}",
	  NULL, "failed to process \"${UNSET:?}\": UNSET: is not allowed to be unset" },
	{ 0, '\\', "${UNSET?}",
	  NULL, "failed to process \"${UNSET?}\": UNSET: is not allowed to be unset" },
	{ 0, '\\', "${UNSET?set $SET first}",
	  NULL, "failed to process \"${UNSET?set $SET first}\": UNSET: set val first" },
	{ 0, '\\', "${UNSET:?\"quoted\"}",
	  NULL, "failed to process \"${UNSET:?\\\"quoted\\\"}\": UNSET: quoted" },
	{ 0, '\\', "${FILE#*.}|${FILE##*.}|${EMPTY#*}|${UNSET#x}",
	  "tar.gz|gz||", NULL },
	{ 0, '\\', "${PATH#*:}|${PATH##*:}",
	  "/usr/bin:/bin|/bin", NULL },
	{ 0, '\\', "${FILE#archive}|${FILE#nope}|${FILE#?r}",
	  ".tar.gz|archive.tar.gz|chive.tar.gz", NULL },
	{ 0, '\\', "${FILE%.*}|${FILE%%.*}|${EMPTY%x}|${UNSET%%x}",
	  "archive.tar|archive||", NULL },
	{ 0, '\\', "${URL%/*}|${URL%%/*}|${URL%%b}",
	  "http://example.com/a|http:|http://example.com/a/", NULL },
	{ 0, '\\', "${PATH/bin/sbin}|${PATH//bin/sbin}",
	  "/usr/local/sbin:/usr/bin:/bin|/usr/local/sbin:/usr/sbin:/sbin", NULL },
	{ 0, '\\', "${URL/\\/\\//:}|${URL//\\//_}",
	  "http::example.com/a/b|http:__example.com_a_b", NULL },
	{ 0, '\\', "${AB/b/}|${AB//b}",
	  NULL, "failed to process \"${AB/b/}|${AB//b}\": syntax error: missing '/' in ${}" },
	{ 0, '\\', "${AB//b/}|${EMPTY//x/y}|${UNSET/x/y}",
	  "aa||", NULL },
	{ 0, '\\', "${AB//?/<$0>}|${AB//?/<\\$0>}",
	  "<><><><>|<\\a><\\b><\\a><\\b>", NULL },
	{ 0, '\\', "${AB//a/$TPL}|${AB/a/$TPL}",
	  "<a|$|a|||$>b<a|$|a|||$>b|<$0|$$|${0}|$1|$x|$>bab", NULL },
	{ 0, '\\', "${AB//a/$$-${0}-$1-$x-$}",
	  "----$b----$b", NULL },
	{ 0, '\\', "${AB//x*/y}|${AB//*/y}|${AB//b*/y}",
	  "abab|y|ay", NULL },
	{ 0, '\\', "${STAR#a\\*}|${STAR%\\?c}|${STAR#*\\?}",
	  "b?c|a*b|c", NULL },
	{ 0, '\\', "${BR#[ab]}|${BR#[a}|${BR/]/}",
	  "x|b]x|[abx", NULL },
	{ 0, '\\', "${NL#*}|${NL##*}|${NL#l?}|${NL%%*}",
	  "l1\nl2|\nl2|\nl2|l1\n", NULL },
	{ 0, '\\', "${NL##l*l}|${NL//?/.}",
	  "l1\nl2|..\n..", NULL },
	{ 0, '\\', "${WIN#C:\\\\}|${WIN%\\\\*}",
	  "dir\\file|C:\\dir", NULL },
	{ 0, '\\', "${SET#\\x}",
	  NULL, "failed to process \"${SET#\\\\x}\": invalid pattern (\\x) in substitution: invalid escape '\\x'" },
	{ 0, '\\', "${SET%ab\\\\}",
	  "val", NULL },
	{ 0, '\\', "${SET/a\\b/}",
	  NULL, "failed to process \"${SET/a\\\\b/}\": invalid pattern (a\\b) in substitution: invalid escape '\\b'" },
	{ 0, '`', "${STAR#a`*}|${STAR#a\\*}",
	  "a*b?c|b?c", NULL },
	{ 0, '\\', "${UNSET:-${EMPTY:-${SET}}}",
	  "val", NULL },
	{ 0, '\\', "${UNSET:-${UNSET2:-${UNSET3:-deep}}}",
	  "deep", NULL },
	{ 0, '\\', "${SET:+${UNSET:-in}}-${UNSET:-'a}b'}",
	  "in-a}b", NULL },
	{ 0, '\\', "${UNSET:-\"${SET}\"}|${UNSET:-\"a b\"}",
	  "val|a b", NULL },
	{ 0, '\\', "${UNSET:-a\\}b}",
	  "a}b", NULL },
	{ 0, '\\', "'a b' \"c d\" 'it''s'",
	  "a b c d its", NULL },
	{ 0, '\\', "\"a'b\" 'a\"b' \"$SET\" '$SET'",
	  "a'b a\"b val $SET", NULL },
	{ 0, '\\', "\"a\\\"b\\$c\\\\d\\e\"",
	  "a\"b$c\\d\\e", NULL },
	{ 0, '\\', "a\\ b\\\\c\\'d\\\"e",
	  "a b\\c'd\"e", NULL },
	{ 0, '\\', "\"a`b\" `x`",
	  "a`b `x`", NULL },
	{ 0, '`', "a`$SET `\"x`\" C:\\dir",
	  "a$SET \"x\" C:\\dir", NULL },
	{ 0, '`', "\"a`\"b`$c``d`e\\f\"",
	  "a\"b$c`d`e\\f", NULL },
	{ 0, '`', "x``y`",
	  "x`y", NULL },
	{ 0, '\\', "\"trailing\\",
	  NULL, "failed to process \"\\\"trailing\\\\\": unexpected end of statement while looking for matching double-quote" },
	{ 0, '\\', "'open",
	  NULL, "failed to process \"'open\": unexpected end of statement while looking for matching single-quote" },
	{ RQ, '\\', "'a b' \"c $SET\" ''",
	  "'a b' \"c val\" ''", NULL },
	{ RQ, '\\', "${UNSET:-'x'}",
	  "'x'", NULL },
	{ RE, '\\', "a\\ b\\$SET\\\\",
	  "a\\ b\\$SET\\\\", NULL },
	{ RE, '\\', "\"a\\\"b\\x\"",
	  "a\\\"b\\\\x", NULL },
	{ RQ | RE, '\\', "\"a\\\"b\\x\"",
	  "\"a\\\"b\\\\x\"", NULL },
	{ RE, '\\', "${UNSET:-a\\$b}|${SET#\\v}",
	  NULL, "failed to process \"${UNSET:-a\\\\$b}|${SET#\\\\v}\": invalid pattern (\\v) in substitution: invalid escape '\\v'" },
	{ RE, '\\', "${UNSET:-a\\$b}",
	  "a$b", NULL },
	{ RE, '\\', "end\\",
	  "end\\", NULL },
	{ RE, '`', "a`$b ``",
	  "a`$b ``", NULL },
	{ SU, '\\', "$SET $UNSET ${UNSET} $EMPTY.",
	  "val $UNSET ${UNSET} .", NULL },
	{ SU, '\\', "${UNSET:-x$SET}|${UNSET-x}|${UNSET+x}|${UNSET:?m}|${UNSET?}",
	  "${UNSET:-xval}|${UNSET-x}|${UNSET+x}|${UNSET:?m}|${UNSET?}", NULL },
	{ SU, '\\', "${UNSET#a\\*}|${UNSET%%x}|${UNSET/a/b}|${UNSET//a/b}",
	  "${UNSET#a\\*}|${UNSET%%x}|${UNSET/a/b}|${UNSET/a/b}", NULL },
	{ SU, '\\', "${SET:-x}|${EMPTY:-x}|$1|$@",
	  "val|x|$1|$@", NULL },
	{ RQ | RE | SU, '\\', "<<\"$EOF\" '$X' \\$Y",
	  "<<\"$EOF\" '$X' \\$Y", NULL },
	{ SQ, '\\', "'$SET' \"$SET\" 'a",
	  "'val' \"val\" 'a", NULL },
	{ SQ, '\\', "\\'x\\\" ${UNSET:-'a b'}",
	  "'x\" 'a b'", NULL },
	{ SQ | SU, '\\', "echo \"$HOME\" '$SET'",
	  "echo \"$HOME\" 'val'", NULL },
	{ 0, '\\', "\357\273\277$SET\357\273\277",
	  "val\357\273\277", NULL },
	{ 0, '\\', "$é ${변수:-k}",
	  " k", NULL },
	{ 0, '\\', "$SETé",
	  "", NULL },
	{ 0, '\\', "${}",
	  NULL, "failed to process \"${}\": syntax error: bad substitution" },
	{ 0, '\\', "${:-x}",
	  NULL, "failed to process \"${:-x}\": syntax error: bad substitution" },
	{ 0, '\\', "${{SET}",
	  NULL, "failed to process \"${{SET}\": syntax error: bad substitution" },
	{ 0, '\\', "${",
	  NULL, "failed to process \"${\": syntax error: missing '}'" },
	{ 0, '\\', "${SET:-x",
	  NULL, "failed to process \"${SET:-x\": syntax error: missing '}'" },
	{ 0, '\\', "${SET:-'x}",
	  NULL, "failed to process \"${SET:-'x}\": syntax error: missing '}'" },
	{ 0, '\\', "${SET:-${UNSET?inner}}",
	  NULL, "failed to process \"${SET:-${UNSET?inner}}\": UNSET: inner" },
	{ 0, '\\', "${SET:-${UNSET?inner}",
	  NULL, "failed to process \"${SET:-${UNSET?inner}\": syntax error: missing '}'" },
	{ 0, '\\', "${SET/a",
	  NULL, "failed to process \"${SET/a\": syntax error: missing '/' in ${}" },
	{ 0, '\\', "${SET/a/b",
	  NULL, "failed to process \"${SET/a/b\": syntax error: missing '}'" },
	{ 0, '\\', "${SET=x}",
	  NULL, "failed to process \"${SET=x}\": unsupported modifier (=) in substitution" },
	{ 0, '\\', "${SET:=x}",
	  NULL, "failed to process \"${SET:=x}\": unsupported modifier (:=) in substitution" },
	{ 0, '\\', "${SET:#x}",
	  NULL, "failed to process \"${SET:#x}\": unsupported modifier (:#) in substitution" },
	{ 0, '\\', "${SET:%x",
	  NULL, "failed to process \"${SET:%x\": unsupported modifier (:%) in substitution" },
	{ 0, '\\', "${SET",
	  NULL, "failed to process \"${SET\": unsupported modifier (\357\277\275) in substitution" },
	{ 0, '\\', "${SET:",
	  NULL, "failed to process \"${SET:\": syntax error: missing '}'" },
	{ 0, '\\', "${SET:}",
	  NULL, "failed to process \"${SET:}\": syntax error: missing '}'" },
	{ 0, '\\', "${SET:}x}",
	  NULL, "failed to process \"${SET:}x}\": unsupported modifier (:}) in substitution" },
	{ 0, '\\', "${#SET}",
	  NULL, "failed to process \"${#SET}\": unsupported modifier (S) in substitution" },
	{ 0, '\\', "${SET x}",
	  NULL, "failed to process \"${SET x}\": unsupported modifier ( ) in substitution" },
	{ 0, '\\', "${SET#a\\",
	  NULL, "failed to process \"${SET#a\\\\\": syntax error: missing '}'" },
	{ 0, '`', "${SET#a\\}",
	  NULL, "failed to process \"${SET#a\\\\}\": invalid pattern (a\\) in substitution: invalid escape '\\\357\277\275'" },
	{ 0, '`', "${SET%a\\}",
	  NULL, "failed to process \"${SET%a\\\\}\": invalid pattern (\\a) in substitution: invalid escape '\\a'" },
	{ 0, '\\', "\"\t\n\"${",
	  NULL, "failed to process \"\\\"\\t\\n\\\"${\": syntax error: missing '}'" },
};

/* Word splitting, in env_words. */
static const struct words_case words_own_cases[] = {
	{ 0, '\\', NULL, "  a\tb\nc  ",
	  SV("a", "b", "c") },
	{ 0, '\\', NULL, "a\302\240b\342\200\203c",
	  SV("a", "b", "c") },
	{ 0, '\\', NULL, "'' \"\" x\"\"y ''z",
	  SV("xy", "z") },
	{ 0, '\\', NULL, "$SP",
	  SV("a", "b") },
	{ 0, '\\', NULL, "\"$SP\"",
	  SV(" a  b ") },
	{ 0, '\\', NULL, "x$SP.y",
	  SV("x", "a", "b", ".y") },
	{ 0, '\\', NULL, "a\\ b 'c d' \"e f\"",
	  SV("a b", "c d", "e f") },
	{ 0, '\\', NULL, "$EMPTY $UNSET x",
	  SV("x") },
	{ 0, '\\', NULL, "ab${UNSET:-c}d e",
	  SV("cd", "e") },
	{ 0, '\\', NULL, "ab${SET}d e",
	  SV("abvald", "e") },
	{ 0, '\\', NULL, "ab\"${UNSET:-c}\"d",
	  SV("cd") },
	{ 0, '\\', NULL, "ab ${UNSET:-c d}",
	  SV("ab", "c", "d") },
	{ 0, '\\', NULL, "x${UNSET:-\"c d\"}",
	  SV("c", "d") },
	{ 0, '\\', NULL, "a \"b",
	  NULL },
	{ RQ | RE | SU, '\\', NULL, "RUN <<EOF cat \"$X\" 'y' \\$z",
	  SV("RUN", "<<EOF", "cat", "\"$X\"", "'y'", "\\$z") },
	{ SU, '\\', NULL, "$UNSET ${UNSET:-a b}",
	  SV("$UNSET", "${UNSET:-a", "b}") },
	{ SQ, '\\', NULL, "'a b' \"c d\"",
	  SV("'a", "b'", "\"c", "d\"") },
	{ 0, '`', NULL, "a` b c``d",
	  SV("a b", "c`d") },
	{ RQ | RE | SU, '\\', NULL, "cat << EOF x<<\t\015\tTAB",
	  SV("cat", "<< EOF", "x<<\t\015\tTAB") },
	{ 0, '\\', NULL, "a <<  ",
	  SV("a", "<<  ") },
	{ 0, '\\', NULL, "<<\nX <\t< '<<' Y",
	  SV("<<", "X", "<", "<", "<<", "Y") },
	{ 0, '\\', NULL, "${UNSET:-<< x} << $SET",
	  SV("<<", "x", "<< val") },
	{ SQ, '\\', NULL, "\"<< a\"",
	  SV("\"<< a\"") },
};

static size_t strv_len(const char *const *v)
{
	size_t n = 0;
	while (v[n])
		n++;
	return n;
}

static void lex_setup(struct sb_shlex *lex, unsigned flags, char escape)
{
	sb_shlex_init(lex, escape);
	lex->raw_quotes = flags & RQ;
	lex->raw_escapes = flags & RE;
	lex->skip_process_quotes = flags & SQ;
	lex->skip_unset_env = flags & SU;
}

/* Expand with the environment kv[0..n) and return rc; res and err as
 * sb_shlex_process leaves them. */
static int expand(unsigned flags, char escape, const char *in, const char *const *kv, size_t n,
		  struct sb_shlex_result *res, struct sb_error **err)
{
	struct sb_shlex lex;
	struct sb_shlex_envlist list = { kv, n };
	struct sb_shlex_env env;

	lex_setup(&lex, flags, escape);
	sb_shlex_env_from_list(&env, &list);
	return sb_shlex_process(&lex, in, strlen(in), &env, res, err);
}

static void assert_failed_empty(const struct sb_shlex_result *res)
{
	assert_null(res->result);
	assert_null(res->words);
	assert_int_equal(res->nwords, 0);
	assert_null(res->matched);
	assert_null(res->unmatched);
}

static void check_expand(const struct expand_case *c, const char *const *kv, size_t n)
{
	struct sb_shlex_result res;
	struct sb_error *err = NULL;
	int rc = expand(c->flags, c->escape, c->in, kv, n, &res, &err);

	if (!c->want) {
		if (rc != -1)
			fail_msg("[%s]: want an error, got [%s]", c->in, res.result);
		assert_non_null(err);
		assert_int_equal(err->code, EINVAL);
		assert_failed_empty(&res);
		if (c->err && strcmp(err->msg, c->err) != 0)
			fail_msg("[%s]: error\n got [%s]\nwant [%s]", c->in, err->msg, c->err);
		sb_error_free(err);
		return;
	}
	if (rc != 0)
		fail_msg("[%s]: unexpected error: %s", c->in, err->msg);
	assert_null(err);
	if (strcmp(res.result, c->want) != 0)
		fail_msg("[%s]:\n got [%s]\nwant [%s]", c->in, res.result, c->want);
	assert_int_equal(res.result_len, strlen(c->want));
	sb_shlex_result_release(&res);
}

static void check_strv(const char *what, const char *in, char **got, size_t ngot, const char *const *want)
{
	size_t nwant = strv_len(want);

	if (ngot != nwant)
		fail_msg("[%s]: %zu %s, want %zu (first: [%s])", in, ngot, what, nwant, ngot ? got[0] : "");
	for (size_t i = 0; i < ngot; i++)
		if (strcmp(got[i], want[i]) != 0)
			fail_msg("[%s]: %s[%zu] is [%s], want [%s]", in, what, i, got[i], want[i]);
}

static void check_words(const struct words_case *c)
{
	struct sb_shlex lex;
	const char *const *kv = c->env ? c->env : env_words;
	size_t n = c->env ? strv_len(c->env) : SB_ARRAY_SIZE(env_words);
	struct sb_shlex_envlist list = { kv, n };
	struct sb_shlex_env env;
	struct sb_error *err = NULL;
	static char *poison[1];
	char **words = poison; /* must come back NULL on error */
	size_t nwords = 99;
	int rc;

	lex_setup(&lex, c->flags, c->escape);
	sb_shlex_env_from_list(&env, &list);
	rc = sb_shlex_process_words(&lex, c->in, strlen(c->in), &env, &words, &nwords, &err);
	if (!c->want) {
		if (rc != -1)
			fail_msg("[%s]: want an error", c->in);
		/* as ProcessWords: no words on error */
		assert_null(words);
		assert_int_equal(nwords, 0);
		assert_non_null(err);
		sb_error_free(err);
		return;
	}
	if (rc != 0)
		fail_msg("[%s]: unexpected error: %s", c->in, err->msg);
	check_strv("words", c->in, words, nwords, c->want);
	sb_strv_free(words, nwords);
}

static void test_envvar_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(envvar_cases); i++)
		check_expand(&envvar_cases[i], env_bk, SB_ARRAY_SIZE(env_bk));
}

static void test_words_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(words_cases); i++)
		check_words(&words_cases[i]);
}

static void test_matches_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(match_cases); i++) {
		const struct match_case *c = &match_cases[i];
		struct expand_case ec = { 0, '\\', c->in, c->want, NULL };
		struct sb_shlex_result res;
		struct sb_error *err = NULL;

		check_expand(&ec, c->env, strv_len(c->env));
		if (!c->want)
			continue;
		assert_int_equal(expand(0, '\\', c->in, c->env, strv_len(c->env), &res, &err), 0);
		check_strv("matched", c->in, res.matched, res.nmatched, c->matched);
		check_strv("unmatched", c->in, res.unmatched, res.nunmatched, c->unmatched);
		sb_shlex_result_release(&res);
	}
}

static void test_own_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(own_cases); i++)
		check_expand(&own_cases[i], env_own, SB_ARRAY_SIZE(env_own));
}

static void test_words_own_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(words_own_cases); i++)
		check_words(&words_own_cases[i]);
}

/* The wrappers, a NULL environment, and what a failure leaves behind. */
static void test_wrappers(void **state)
{
	struct sb_shlex lex;
	struct sb_error *err = NULL;
	char *out = (char *)1, **words = NULL;
	size_t nwords = 0;
	struct sb_shlex_result res;

	(void)state;
	sb_shlex_init(&lex, '\\');
	assert_int_equal(lex.escape, '\\');
	assert_false(lex.raw_quotes || lex.raw_escapes || lex.skip_process_quotes || lex.skip_unset_env);

	assert_int_equal(sb_shlex_process_word(&lex, "a $X 'b c'", NULL, &out, &err), 0);
	assert_string_equal(out, "a  b c");
	free(out);
	assert_int_equal(sb_shlex_process_word(&lex, "${X:?}", NULL, &out, &err), -1);
	assert_null(out);
	assert_string_equal(err->msg, "failed to process \"${X:?}\": X: is not allowed to be unset");
	sb_error_free(err);
	err = NULL;

	assert_int_equal(sb_shlex_process_words(&lex, "a $X 'b c'", 10, NULL, &words, &nwords, &err), 0);
	check_strv("words", "a $X 'b c'", words, nwords, SV("a", "b c"));
	sb_strv_free(words, nwords);

	/* only len bytes are read */
	assert_int_equal(sb_shlex_process_words(&lex, "a b c", 3, NULL, &words, &nwords, &err), 0);
	check_strv("words", "a b", words, nwords, SV("a", "b"));
	sb_strv_free(words, nwords);

	/* nothing at all: no words, an empty result */
	assert_int_equal(sb_shlex_process(&lex, "", 0, NULL, &res, &err), 0);
	assert_string_equal(res.result, "");
	assert_int_equal(res.nwords, 0);
	assert_int_equal(res.nmatched + res.nunmatched, 0);
	sb_shlex_result_release(&res);
	assert_null(res.result);
	sb_strv_free(NULL, 0);

	/* a NULL err is allowed */
	assert_int_equal(sb_shlex_process(&lex, "'", 1, NULL, &res, NULL), -1);
	assert_failed_empty(&res);
}

/* Bytes as Go sees them: runes written back re-encoded, values copied. */
static void test_bytes(void **state)
{
	static const char *const kv[] = { "BAD=a\xff z", "E=\xc3\xa9" };
	struct sb_shlex_result res;
	struct sb_error *err = NULL;
	struct sb_shlex lex;

	(void)state;
	/* an invalid byte of the input becomes U+FFFD, one of a value stays */
	assert_int_equal(expand(0, '\\', "\xff$BAD", kv, 2, &res, &err), 0);
	assert_string_equal(res.result, "\xef\xbf\xbd" "a\xff z");
	/* ... except in words, which read the value rune by rune */
	check_strv("words", "BAD", res.words, res.nwords, SV("\xef\xbf\xbd" "a\xef\xbf\xbd", "z"));
	sb_shlex_result_release(&res);

	/* a truncated sequence is one U+FFFD per byte */
	assert_int_equal(expand(0, '\\', "\xe2\x82", kv, 2, &res, &err), 0);
	assert_string_equal(res.result, "\xef\xbf\xbd\xef\xbf\xbd");
	sb_shlex_result_release(&res);

	/* % reverses the value as runes, so its invalid bytes come back as
	 * U+FFFD even when nothing is trimmed; # copies the rest as is */
	assert_int_equal(expand(0, '\\', "${BAD%q}|${BAD#a}", kv, 2, &res, &err), 0);
	assert_string_equal(res.result, "a\xef\xbf\xbd z|\xff z");
	sb_shlex_result_release(&res);

	/* '?' is one rune, not one byte; an invalid byte is one rune too */
	assert_int_equal(expand(0, '\\', "${E#?}|${BAD#??}|${E/\xc3\xa9/e}", kv, 2, &res, &err), 0);
	assert_string_equal(res.result, "| z|e");
	sb_shlex_result_release(&res);

	/* a NUL in the input is kept; result_len counts past it */
	sb_shlex_init(&lex, '\\');
	assert_int_equal(sb_shlex_process(&lex, "a\0b", 3, NULL, &res, &err), 0);
	assert_int_equal(res.result_len, 3);
	assert_memory_equal(res.result, "a\0b", 4);
	sb_shlex_result_release(&res);

	/* a byte-order mark is dropped at the start only, also of a pattern */
	assert_int_equal(expand(0, '\\', "\xef\xbb\xbfx\xef\xbb\xbf${E#\xef\xbb\xbf\xc3\xa9}.", kv, 2, &res, &err), 0);
	assert_string_equal(res.result, "x\xef\xbb\xbf.");
	sb_shlex_result_release(&res);

	/* the error message quotes the source as Go's %q */
	assert_int_equal(expand(0, '\\', "\t\xff\"", kv, 2, &res, &err), -1);
	assert_string_equal(err->msg, "failed to process \"\\t\\xff\\\"\": unexpected end of statement while "
				      "looking for matching double-quote");
	sb_error_free(err);
}

static char *repeat(const char *a, size_t n, const char *mid, const char *b)
{
	size_t la = strlen(a), lm = strlen(mid), lb = strlen(b);
	char *s = malloc(n * (la + lb) + lm + 1), *p = s;

	assert_non_null(s);
	for (size_t i = 0; i < n; i++, p += la)
		memcpy(p, a, la);
	memcpy(p, mid, lm);
	p += lm;
	for (size_t i = 0; i < n; i++, p += lb)
		memcpy(p, b, lb);
	*p = '\0';
	return s;
}

/* The bounds BuildKit lacks: nesting depth and bytes built. */
static void test_limits(void **state)
{
	static const char *const kv[] = { "A=0123456789" };
	struct sb_shlex_result res;
	struct sb_error *err = NULL;
	struct sb_shlex lex;
	struct sb_shlex_envlist list = { kv, 1 };
	struct sb_shlex_env env;
	char *s;

	(void)state;
	s = repeat("${u:-", SB_SHLEX_MAX_DEPTH - 1, "deep", "}");
	assert_int_equal(expand(0, '\\', s, NULL, 0, &res, &err), 0);
	assert_string_equal(res.result, "deep");
	sb_shlex_result_release(&res);
	free(s);

	s = repeat("\"${u:-", SB_SHLEX_MAX_DEPTH, "deep", "}\"");
	assert_int_equal(expand(0, '\\', s, NULL, 0, &res, &err), -1);
	assert_int_equal(err->code, E2BIG);
	assert_non_null(strstr(err->msg, "\": syntax error: substitutions nested deeper than 1000 levels"));
	assert_failed_empty(&res);
	sb_error_free(err);
	err = NULL;
	free(s);

	/* each level multiplies by ten: 10^8 bytes is past the default */
	s = repeat("${A//?/", 7, "$A", "}");
	assert_int_equal(expand(0, '\\', s, kv, 1, &res, &err), -1);
	assert_int_equal(err->code, E2BIG);
	assert_non_null(strstr(err->msg, ": expansion exceeds 67108864 bytes"));
	sb_error_free(err);
	err = NULL;
	free(s);

	sb_shlex_init(&lex, '\\');
	sb_shlex_env_from_list(&env, &list);
	lex.max_len = 1000;
	assert_int_equal(sb_shlex_process(&lex, "${A//?/$A}", 10, &env, &res, &err), 0);
	assert_int_equal(res.result_len, 100);
	sb_shlex_result_release(&res);
	assert_int_equal(sb_shlex_process(&lex, "${A//?/${A//?/$A}}", 18, &env, &res, &err), -1);
	assert_string_equal(err->msg, "failed to process \"${A//?/${A//?/$A}}\": expansion exceeds 1000 bytes");
	sb_error_free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envvar_table),
		cmocka_unit_test(test_words_table),
		cmocka_unit_test(test_matches_table),
		cmocka_unit_test(test_own_table),
		cmocka_unit_test(test_words_own_table),
		cmocka_unit_test(test_wrappers),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
