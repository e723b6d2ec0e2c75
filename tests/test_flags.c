// Command-line flags: every type, defaults, --help, each error, JSON output.
#include <omp.h>
#include <unistd.h>

#include "lt_test.h"
#include "libtrain/flags.h"

#define ARGV(...) ((char *[]){"prog", __VA_ARGS__})
#define NARGS(...) (int)(sizeof((char *[]){"prog", __VA_ARGS__}) / sizeof(char *))
#define PARSE(f, ...) lt_flags_parse(f, NARGS(__VA_ARGS__), ARGV(__VA_ARGS__))

typedef struct {
    int steps, resume, nl;
    int64_t big;
    uint64_t seed;
    float lr, lambdas[4];
    const char *out, *device;
} vars;

static lt_flags *make(vars *v) {
    lt_flags *f = lt_flags_new("toy", "a toy recipe");
    cr_assert(f);
    lt_flag_int(f, "steps", &v->steps, 1000, "training steps");
    lt_flag_int64(f, "big", &v->big, -5, "a 64-bit count");
    lt_flag_u64(f, "seed", &v->seed, 7, "rng seed");
    lt_flag_float(f, "lr", &v->lr, 1e-3f, "learning rate");
    lt_flag_str(f, "out", &v->out, "runs/x", "run folder");
    lt_flag_bool(f, "resume", &v->resume, 0, "resume the run");
    lt_flag_choice(f, "device", &v->device, "cpu", "cpu|cuda", "device");
    lt_flag_float_list(f, "compare-lambda", v->lambdas, 4, &v->nl, "0,0.1", "lambdas to compare");
    return f;
}

// Asserts parse failed with LT_ERR_ARG and every `want` appears in the message.
static void expect_err(lt_status s, const char *want1, const char *want2) {
    cr_assert_eq(s, LT_ERR_ARG, "expected LT_ERR_ARG, got %s", lt_status_name(s));
    const char *m = lt_last_error();
    cr_assert(strstr(m, want1), "message '%s' lacks '%s'", m, want1);
    if (want2) cr_assert(strstr(m, want2), "message '%s' lacks '%s'", m, want2);
}

// Runs parse with stdout redirected to a file; returns the status and the text printed.
static lt_status parse_capture(lt_flags *f, int argc, char **argv, char *buf, size_t cap) {
    fflush(stdout);
    FILE *tmp = tmpfile();
    cr_assert(tmp);
    int saved = dup(1);
    dup2(fileno(tmp), 1);
    lt_status s = lt_flags_parse(f, argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, cap - 1, tmp);
    buf[n] = 0;
    fclose(tmp);
    return s;
}

static char *json_of(lt_flags *f, char *buf, size_t cap) {
    FILE *tmp = tmpfile();
    cr_assert(tmp);
    cr_assert_eq(lt_flags_to_json(f, tmp), LT_OK, "%s", lt_last_error());
    rewind(tmp);
    size_t n = fread(buf, 1, cap - 1, tmp);
    buf[n] = 0;
    fclose(tmp);
    return buf;
}

Test(flags, defaults_apply) {
    vars v;
    memset(&v, 0x55, sizeof v);
    lt_flags *f = make(&v);
    cr_assert_eq(lt_flags_parse(f, 1, ARGV(NULL)), LT_OK, "%s", lt_last_error());
    cr_assert_eq(v.steps, 1000);
    cr_assert_eq(v.big, -5);
    cr_assert_eq(v.seed, 7);
    cr_assert_eq(v.lr, 1e-3f);
    cr_assert_str_eq(v.out, "runs/x");
    cr_assert_eq(v.resume, 0);
    cr_assert_str_eq(v.device, "cpu");
    cr_assert_eq(v.nl, 2);
    cr_assert_eq(v.lambdas[0], 0.0f);
    cr_assert_eq(v.lambdas[1], 0.1f);
    cr_assert_eq(lt_flags_was_set(f, "steps"), 0);
    lt_flags_free(f);
}

Test(flags, every_type_parses_with_equals) {
    vars v;
    lt_flags *f = make(&v);
    lt_status s = PARSE(f, "--steps=-42", "--big=9000000000", "--seed=18446744073709551615", "--lr=2.5e-4",
                        "--out=runs/y z", "--resume", "--device=cuda", "--compare-lambda=1,-2.5,3e-2");
    cr_assert_eq(s, LT_OK, "%s", lt_last_error());
    cr_assert_eq(v.steps, -42);
    cr_assert_eq(v.big, 9000000000LL);
    cr_assert_eq(v.seed, UINT64_MAX);
    cr_assert_eq(v.lr, 2.5e-4f);
    cr_assert_str_eq(v.out, "runs/y z");
    cr_assert_eq(v.resume, 1);
    cr_assert_str_eq(v.device, "cuda");
    cr_assert_eq(v.nl, 3);
    cr_assert_eq(v.lambdas[0], 1.0f);
    cr_assert_eq(v.lambdas[1], -2.5f);
    cr_assert_eq(v.lambdas[2], 3e-2f);
    cr_assert_eq(lt_flags_was_set(f, "steps"), 1);
    cr_assert_eq(lt_flags_was_set(f, "nope"), 0);
    lt_flags_free(f);
}

Test(flags, space_separated_values_and_underscores) {
    vars v;
    lt_flags *f = make(&v);
    lt_status s = PARSE(f, "--steps", "12", "--lr", "-0.5", "--seed", "0x10", "--out", "a=b", "--compare_lambda", "");
    cr_assert_eq(s, LT_OK, "%s", lt_last_error());
    cr_assert_eq(v.steps, 12);
    cr_assert_eq(v.lr, -0.5f);
    cr_assert_eq(v.seed, 16);
    cr_assert_str_eq(v.out, "a=b");
    cr_assert_eq(v.nl, 0);
    lt_flags_free(f);
}

Test(flags, bool_forms) {
    const char *on[] = {"--resume", "--resume=1", "--resume=true", "--resume=YES", "--resume=on"};
    const char *off[] = {"--no-resume", "--resume=0", "--resume=false", "--resume=no", "--resume=off"};
    for (int k = 0; k < 5; k++) {
        vars v;
        lt_flags *f = make(&v);
        cr_assert_eq(lt_flags_parse(f, 2, ARGV((char *)on[k])), LT_OK, "%s: %s", on[k], lt_last_error());
        cr_assert_eq(v.resume, 1, "%s", on[k]);
        lt_flags_free(f);
        f = make(&v);
        v.resume = 7;
        cr_assert_eq(lt_flags_parse(f, 2, ARGV((char *)off[k])), LT_OK, "%s: %s", off[k], lt_last_error());
        cr_assert_eq(v.resume, 0, "%s", off[k]);
        lt_flags_free(f);
    }
    vars v;
    lt_flags *f = make(&v);
    expect_err(PARSE(f, "--resume=maybe"), "--resume=maybe", "true/false");
    lt_flags_free(f);
    f = make(&v);
    // A bool never takes the next argument as its value.
    expect_err(PARSE(f, "--resume", "1"), "unexpected argument '1'", NULL);
    lt_flags_free(f);
    f = make(&v);
    expect_err(PARSE(f, "--no-resume=1"), "--no-resume", "no value");
    lt_flags_free(f);
}

Test(flags, help_lists_flags_with_defaults) {
    vars v;
    lt_flags *f = make(&v);
    char out[8192];
    lt_status s = parse_capture(f, 3, ARGV("--steps=abc", "--help"), out, sizeof out);
    cr_assert_eq(s, LT_HELP, "got %s", lt_status_name(s));
    cr_assert(strstr(out, "toy: a toy recipe"), "%s", out);
    const char *want[] = {"--steps=INT", "training steps (default 1000)", "--big=INT", "(default -5)",
                          "--seed=UINT", "(default 7)", "--lr=FLOAT", "learning rate (default 0.001)",
                          "--out=STR", "(default \"runs/x\")", "--resume ", "(default false)",
                          "--device=cpu|cuda", "(default cpu)", "--compare-lambda=FLOAT,...", "(default 0,0.1)",
                          "--help"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert(strstr(out, want[i]), "usage lacks '%s':\n%s", want[i], out);
    // Help texts start in one column.
    int col = -1, lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "  --", 4)) continue;
        char *end = strchr(line + 2, ' ');
        cr_assert(end, "%s", line);
        while (*end == ' ') end++;
        int c = (int)(end - line);
        if (col < 0) col = c;
        cr_assert_eq(c, col, "help column %d != %d in '%s'", c, col, line);
        lines++;
    }
    cr_assert_eq(lines, 9, "expected 8 flags + --help, got %d lines", lines);
    lt_flags_free(f);

    f = make(&v);
    cr_assert_eq(parse_capture(f, 2, ARGV("-h"), out, sizeof out), LT_HELP);
    cr_assert(strstr(out, "--compare-lambda"));
    lt_flags_free(f);
}

Test(flags, unknown_flag_suggests_closest) {
    vars v;
    lt_flags *f = make(&v);
    expect_err(PARSE(f, "--stpes=3"), "unknown flag --stpes", "did you mean --steps?");
    lt_flags_free(f);
    f = make(&v);
    expect_err(PARSE(f, "--compare-lamda=1"), "--compare-lamda", "did you mean --compare-lambda?");
    lt_flags_free(f);
    f = make(&v);
    expect_err(PARSE(f, "--zebra"), "unknown flag --zebra", NULL);
    cr_assert_null(strstr(lt_last_error(), "did you mean"), "%s", lt_last_error());
    lt_flags_free(f);
    f = make(&v);
    expect_err(PARSE(f, "--no-steps"), "unknown flag --no-steps", NULL);
    lt_flags_free(f);
    f = make(&v);
    expect_err(PARSE(f, "-x"), "unknown flag -x", NULL);
    lt_flags_free(f);
}

Test(flags, malformed_values_name_the_flag) {
    struct { const char *arg, *want; } cases[] = {
        {"--steps=abc", "--steps=abc: expected an integer"},
        {"--steps=12x", "trailing characters 'x'"},
        {"--steps=", "--steps=: expected an integer, got an empty value"},
        {"--steps= 5", "--steps= 5: expected an integer"},
        {"--steps=3000000000", "--steps=3000000000: integer out of range"},
        {"--steps=1.5", "--steps=1.5: expected an integer"},
        {"--big=99999999999999999999", "--big=99999999999999999999: integer out of range"},
        {"--seed=-1", "--seed=-1: expected a non-negative integer"},
        {"--seed=0x", "--seed=0x: expected a non-negative integer"},
        {"--seed=18446744073709551616", "--seed=18446744073709551616: integer out of range"},
        {"--lr=fast", "--lr=fast: expected a number"},
        {"--lr=", "--lr=: expected a number, got an empty value"},
        {"--lr=1e-3x", "trailing characters 'x'"},
        {"--lr=1e40", "--lr=1e40: number out of range"},
        {"--lr=nan", "--lr=nan: expected a finite number"},
        {"--lr=inf", "--lr=inf: expected a finite number"},
        {"--device=gpu", "--device=gpu: expected one of cpu|cuda"},
        {"--device=", "--device=: expected one of cpu|cuda"},
        {"--compare-lambda=1,,2", "--compare-lambda=1,,2: value 2: expected a number, got an empty value"},
        {"--compare-lambda=1,", "value 2: expected a number"},
        {"--compare-lambda=1,2,3,4,5", "more than 4 values"},
        {"--compare-lambda=1,b", "value 2: expected a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vars v;
        lt_flags *f = make(&v);
        expect_err(lt_flags_parse(f, 2, ARGV((char *)cases[i].arg)), cases[i].want, "toy:");
        lt_flags_free(f);
    }
}

Test(flags, structural_errors) {
    vars v;
    lt_flags *f = make(&v);
    expect_err(PARSE(f, "--steps=1", "--lr=1", "--steps=2"), "--steps given twice", NULL);
    lt_flags_free(f);
    f = make(&v);
    expect_err(PARSE(f, "--resume", "--no-resume"), "--resume given twice", NULL);
    lt_flags_free(f);
    f = make(&v);
    expect_err(PARSE(f, "data.h5"), "unexpected argument 'data.h5'", NULL);
    lt_flags_free(f);
    f = make(&v);
    expect_err(PARSE(f, "--steps"), "--steps: missing value", NULL);
    lt_flags_free(f);
    f = make(&v);
    expect_err(PARSE(f, "--out", "--steps=3"), "--out: missing value", NULL);
    lt_flags_free(f);
}

Test(flags, declaration_mistakes_reported_by_parse) {
    int a, b;
    const char *c;
    lt_flags *f = lt_flags_new("toy", "");
    lt_flag_int(f, "n", &a, 1, "");
    lt_flag_int(f, "n", &b, 2, "");
    expect_err(lt_flags_parse(f, 1, ARGV(NULL)), "--n declared twice", NULL);
    lt_flags_free(f);
    f = lt_flags_new("toy", "");
    lt_flag_choice(f, "mode", &c, "fast", "slow|exact", "");
    expect_err(lt_flags_parse(f, 1, ARGV(NULL)), "--mode", "not one of its choices");
    lt_flags_free(f);
    float l[2];
    int n;
    f = lt_flags_new("toy", "");
    lt_flag_float_list(f, "l", l, 2, &n, "1,2,3", "");
    expect_err(lt_flags_parse(f, 1, ARGV(NULL)), "--l", "bad default");
    lt_flags_free(f);
    f = lt_flags_new("toy", "");
    lt_flag_bool(f, "help", &a, 0, "");
    expect_err(lt_flags_parse(f, 1, ARGV(NULL)), "--help is reserved", NULL);
    lt_flags_free(f);
}

Test(flags, common_flags) {
    lt_common_flags cf = LT_COMMON_FLAGS_INIT;
    cf.steps = 200;
    cf.log_every = 10;
    lt_flags *f = lt_flags_new("mlp", "d");
    lt_flags_common(f, &cf);
    cr_assert_eq(lt_flags_parse(f, 1, ARGV(NULL)), LT_OK, "%s", lt_last_error());
    cr_assert_eq(cf.steps, 200);
    cr_assert_eq(cf.lr, 1e-3f);
    cr_assert_eq(cf.seed, 1);
    cr_assert_str_eq(cf.device, "cpu");
    cr_assert_eq(cf.dev, LT_CPU);
    cr_assert_str_eq(cf.out, "runs/mlp");
    cr_assert_eq(cf.resume, 0);
    cr_assert_eq(cf.log_every, 10);
    cr_assert_eq(cf.ckpt_every, 1000);
    lt_flags_free(f);

    lt_common_flags cg = LT_COMMON_FLAGS_INIT;
    f = lt_flags_new("mlp", "d");
    lt_flags_common(f, &cg);
    lt_status s = PARSE(f, "--steps=5", "--lr=0.1", "--seed=9", "--device=cuda", "--out=/tmp/r", "--resume",
                        "--threads=3", "--log_every=2", "--ckpt-every=0");
    cr_assert_eq(s, LT_OK, "%s", lt_last_error());
    cr_assert_eq(cg.steps, 5);
    cr_assert_eq(cg.lr, 0.1f);
    cr_assert_eq(cg.seed, 9);
    cr_assert_eq(cg.dev, LT_CUDA);
    cr_assert_str_eq(cg.out, "/tmp/r");
    cr_assert_eq(cg.resume, 1);
    cr_assert_eq(cg.threads, 3);
    cr_assert_eq(omp_get_max_threads(), 3, "--threads was not applied");
    cr_assert_eq(cg.log_every, 2);
    cr_assert_eq(cg.ckpt_every, 0);
    lt_flags_free(f);

    const char *bad[][2] = {{"--steps=-1", "--steps=-1: must be >= 0"}, {"--log-every=0", "--log-every=0"},
                            {"--threads=-2", "--threads=-2"}, {"--out=", "--out: must not be empty"}};
    for (int i = 0; i < 4; i++) {
        lt_common_flags ch = LT_COMMON_FLAGS_INIT;
        f = lt_flags_new("mlp", "d");
        lt_flags_common(f, &ch);
        expect_err(lt_flags_parse(f, 2, ARGV((char *)bad[i][0])), bad[i][1], NULL);
        lt_flags_free(f);
    }
}

Test(flags, json_exact_and_escaped) {
    vars v;
    lt_flags *f = make(&v);
    lt_status s = PARSE(f, "--out=a\"b\\c\nd\te\x01" "f/\xc3\xa9", "--lr=0.1", "--compare-lambda=0.5,-1,1e-07",
                        "--seed=12345678901234");
    cr_assert_eq(s, LT_OK, "%s", lt_last_error());
    char buf[2048];
    const char *want =
        "{\n"
        "  \"steps\": 1000,\n"
        "  \"big\": -5,\n"
        "  \"seed\": 12345678901234,\n"
        "  \"lr\": 0.1,\n"
        "  \"out\": \"a\\\"b\\\\c\\nd\\te\\u0001f/\xc3\xa9\",\n"
        "  \"resume\": false,\n"
        "  \"device\": \"cpu\",\n"
        "  \"compare-lambda\": [0.5, -1, 1e-07]\n"
        "}\n";
    cr_assert_str_eq(json_of(f, buf, sizeof buf), want);
    lt_flags_free(f);

    const char *nul;
    f = lt_flags_new("empty", "");
    cr_assert_str_eq(json_of(f, buf, sizeof buf), "{}\n");
    lt_flag_str(f, "s", &nul, NULL, "");
    cr_assert_eq(lt_flags_parse(f, 1, ARGV(NULL)), LT_OK);
    cr_assert_str_eq(json_of(f, buf, sizeof buf), "{\n  \"s\": null\n}\n");
    lt_flags_free(f);
}

Test(flags, json_floats_round_trip) {
    float vals[] = {1e-3f, 3e-4f, 0.1f, 1.0f / 3.0f, 123456.789f, -2.5e-9f, 16777217.0f};
    for (int i = 0; i < 7; i++) {
        float x;
        lt_flags *f = lt_flags_new("t", "");
        lt_flag_float(f, "x", &x, vals[i], "");
        char buf[256];
        json_of(f, buf, sizeof buf);
        const char *p = strstr(buf, ": ");
        cr_assert(p, "%s", buf);
        cr_assert_eq(strtof(p + 2, NULL), vals[i], "%s does not round-trip %.9g", buf, vals[i]);
        lt_flags_free(f);
    }
}
