#include "libtrain/run.h"
#include "libtrain/atomic_file.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double lt_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

lt_status lt_mkdirs(const char *path) {
    char buf[1024];
    if (strlen(path) >= sizeof buf) return lt_error(LT_ERR_ARG, "path too long: %s", path);
    strcpy(buf, path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return lt_error(LT_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return lt_error(LT_ERR_IO, "%s exists and is not a directory", path);
    return LT_OK;
}

lt_status lt_cache_dir(char *out, size_t n) {
    const char *env = getenv("LT_DATA_DIR"), *home = getenv("HOME");
    int k = env && env[0] ? snprintf(out, n, "%s", env) : snprintf(out, n, "%s/.cache/libtrain", home ? home : ".");
    if (k < 0 || (size_t)k >= n) return lt_error(LT_ERR_ARG, "data cache path too long");
    return lt_mkdirs(out);
}

const char *lt_run_path(const lt_run *r, const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/%s", r->dir, name);
    return buf;
}

int lt_run_has_checkpoint(const char *dir) {
    char p[1100];
    snprintf(p, sizeof p, "%s/checkpoints/latest", dir);
    return access(p, F_OK) == 0;
}

// Keeps the metrics lines of steps <= keep_step (a resumed run replays the rest).
static lt_status truncate_metrics(const char *path, int64_t keep_step) {
    FILE *in = fopen(path, "r");
    if (!in) return LT_OK;
    lt_atomic_file af;
    lt_status s = lt_atomic_open(&af, path);
    if (s != LT_OK) { fclose(in); return s; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) > 0) {
        long long step;
        if (line[len - 1] != '\n') break;   // a torn last line from a killed run
        if (sscanf(line, "{\"step\":%lld", &step) == 1 && step <= keep_step) fputs(line, af.fp);
    }
    free(line);
    fclose(in);
    return lt_atomic_commit(&af);
}

lt_status lt_run_open(lt_run *r, const char *dir, const lt_flags *f, int64_t total_steps, int64_t resume_step) {
    memset(r, 0, sizeof *r);
    if (strlen(dir) >= sizeof r->dir - 64) return lt_error(LT_ERR_ARG, "--out path too long: %s", dir);
    strcpy(r->dir, dir);
    char p[1100];
    if (resume_step < 0 && lt_run_has_checkpoint(dir))
        return lt_error(LT_ERR_STATE, "run folder %s already holds checkpoints: pass --resume to continue it, "
                                      "or choose another --out", dir);
    LT_TRY(lt_mkdirs(lt_run_path(r, "checkpoints", p, sizeof p)));
    if (f) {
        lt_atomic_file af;
        LT_TRY(lt_atomic_open(&af, lt_run_path(r, "config.json", p, sizeof p)));
        lt_status s = lt_flags_to_json(f, af.fp);
        if (s != LT_OK) { lt_atomic_abort(&af); return s; }
        fputc('\n', af.fp);
        LT_TRY(lt_atomic_commit(&af));
    }
    lt_run_path(r, "metrics.jsonl", p, sizeof p);
    if (resume_step >= 0) LT_TRY(truncate_metrics(p, resume_step));
    else unlink(p);
    r->metrics = fopen(p, "a");
    if (!r->metrics) return lt_error(LT_ERR_IO, "cannot open %s: %s", p, strerror(errno));
    r->total_steps = total_steps;
    r->t_start = r->t_last = lt_time_now();
    r->step_last = resume_step > 0 ? resume_step : 0;
    r->tty = isatty(fileno(stdout)) && !getenv("NO_PROGRESS");
    return LT_OK;
}

void lt_run_close(lt_run *r) {
    if (r->tty) printf("\r\033[K");
    if (r->metrics) fclose(r->metrics);
    r->metrics = NULL;
    fflush(stdout);
}

static void fmt_duration(double s, char *buf) {
    if (!isfinite(s) || s < 0) { strcpy(buf, "--"); return; }
    long t = lround(s);
    if (t >= 3600) sprintf(buf, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) sprintf(buf, "%ldm%02lds", t / 60, t % 60);
    else sprintf(buf, "%.1fs", s);
}

static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);   // JSON has no NaN; null keeps the line parseable
}

static void write_extra(FILE *f, int n, const lt_metric *m) {
    for (int i = 0; i < n; i++) { fprintf(f, ",\"%s\":", m[i].name); json_num(f, m[i].value); }
}

lt_status lt_run_log_train(lt_run *r, int64_t step, double loss, double lr, double grad_norm, int n_extra,
                           const lt_metric *extra) {
    double now = lt_time_now(), elapsed = now - r->t_start;
    double dt = now - r->t_last;
    int64_t dsteps = step - r->step_last;
    double ips = dt > 0 ? r->items_since_log / dt : 0;
    double eta = dsteps > 0 ? dt / (double)dsteps * (double)(r->total_steps - step) : NAN;
    char e1[32], e2[32];
    fmt_duration(elapsed, e1);
    fmt_duration(eta, e2);
    if (r->tty) printf("\r\033[K");
    printf("step %7lld/%-7lld | loss %9.6f | lr %.2e | norm %8.4f | %9.1f items/s | %8s | ETA %8s",
           (long long)step, (long long)r->total_steps, loss, lr, grad_norm, ips, e1, e2);
    for (int i = 0; i < n_extra; i++) printf(" | %s %.4f", extra[i].name, extra[i].value);
    printf("\n");
    fflush(stdout);
    fprintf(r->metrics, "{\"step\":%lld,\"split\":\"train\",\"loss\":", (long long)step);
    json_num(r->metrics, loss);
    fprintf(r->metrics, ",\"lr\":%.9g,\"grad_norm\":", lr);
    json_num(r->metrics, grad_norm);
    fprintf(r->metrics, ",\"items_per_s\":%.3f,\"elapsed_s\":%.3f", ips, elapsed);
    write_extra(r->metrics, n_extra, extra);
    fputs("}\n", r->metrics);
    fflush(r->metrics);
    r->t_last = now;
    r->step_last = step;
    r->items_since_log = 0;
    return ferror(r->metrics) ? lt_error(LT_ERR_IO, "writing %s/metrics.jsonl failed", r->dir) : LT_OK;
}

lt_status lt_run_log_eval(lt_run *r, int64_t step, const char *split, int n, const lt_metric *m) {
    if (r->tty) printf("\r\033[K");
    printf("%-5s %7lld/%-7lld", split, (long long)step, (long long)r->total_steps);
    for (int i = 0; i < n; i++) printf(" | %s %.4f", m[i].name, m[i].value);
    printf("\n");
    fflush(stdout);
    fprintf(r->metrics, "{\"step\":%lld,\"split\":\"%s\"", (long long)step, split);
    write_extra(r->metrics, n, m);
    fputs("}\n", r->metrics);
    fflush(r->metrics);
    return ferror(r->metrics) ? lt_error(LT_ERR_IO, "writing %s/metrics.jsonl failed", r->dir) : LT_OK;
}

void lt_run_progress(lt_run *r, int64_t step) {
    if (!r->tty || r->total_steps <= 0) return;
    const int width = 30;
    double frac = (double)step / (double)r->total_steps;
    int fill = (int)(frac * width);
    printf("\r\033[K[");
    for (int i = 0; i < width; i++) putchar(i < fill ? '#' : '.');
    printf("] %lld/%lld", (long long)step, (long long)r->total_steps);
    fflush(stdout);
}

lt_status lt_run_check_finite(const lt_run *r, int64_t step, double loss, double grad_norm) {
    if (isfinite(loss) && isfinite(grad_norm)) return LT_OK;
    return lt_error(LT_ERR_NONFINITE,
                    "step %lld: %s is %s; training stopped. The last good checkpoint is kept in %s/checkpoints",
                    (long long)step, isfinite(loss) ? "gradient norm" : "loss",
                    isnan(isfinite(loss) ? grad_norm : loss) ? "NaN" : "infinite", r->dir);
}
