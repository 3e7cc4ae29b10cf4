/*
 * harness_proc.c -- measured child processes for the benchmark tools.
 *
 * Entry points: pd_proc_run(), pd_proc_run_forked(), from the main thread
 * of a single-threaded process; pd_proc_format_command() and
 * pd_proc_now() from anywhere.
 *
 * While a child runs, a SIGTERM, SIGINT or SIGHUP to the tool is passed on
 * to the child, and the tool ends by the same signal once the child has
 * ended (see forward_and_die). A child runs in a process group of its own
 * and gets SIGTERM when the tool dies without passing a signal on.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/harness_proc.h"

/*
 * The child being waited for, so that a SIGTERM, SIGINT or SIGHUP that ends
 * the tool (a CI timeout, Ctrl-C) ends the child too instead of leaving it
 * writing into the corpus. 0 while there is none.
 */
static volatile sig_atomic_t running_child;

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP};

/* Per entry of forwarded: true when forward_and_die handles it (it was not ignored). */
static bool handled[sizeof forwarded / sizeof forwarded[0]];

/*
 * Passes sig on to the child, waits until the child has ended, and ends the
 * tool by the same signal. The child runs in a process group of its own, so
 * a signal sent to the tool's group (Ctrl-C, timeout(1), a CI runner)
 * reaches it once, from here: parsediff takes a second signal as a request
 * to stop at once.
 */
static void forward_and_die(int sig)
{
    pid_t pid = (pid_t)running_child;
    if (pid > 0) {
        kill(pid, sig);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/*
 * Installs forward_and_die once for each forwarded signal the tool does not
 * ignore. Under nohup, SIGHUP thus stays ignored, for the child too. Then
 * blocks the forwarded signals into *old until child_started(), so that
 * none arrives between the start of a child and the record of its pid.
 */
static void block_forwarded(sigset_t *old)
{
    static bool installed;
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        sigaddset(&set, forwarded[i]);
        if (installed)
            continue;
        struct sigaction was;
        if (sigaction(forwarded[i], NULL, &was) != 0 || was.sa_handler == SIG_IGN)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = forward_and_die;
        /* A second signal while the tool waits is passed on too, so that a
         * second Ctrl-C stops parsediff at once, as it does without the tool. */
        sa.sa_flags = SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        handled[i] = sigaction(forwarded[i], &sa, NULL) == 0;
    }
    installed = true;
    sigprocmask(SIG_BLOCK, &set, old);
}

/* In a forked child: gives the signals forward_and_die handles their default action again. */
static void reset_handled(void)
{
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        if (handled[i])
            signal(forwarded[i], SIG_DFL);
    }
}

/*
 * In a new child: moves it to a process group of its own (see
 * forward_and_die), requests SIGTERM when the tool dies without passing a
 * signal on (SIGKILL), and restores the signals' dispositions and mask.
 * Exits at once when the tool has already gone.
 */
static void enter_child(pid_t tool, const sigset_t *old)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != tool)
        _exit(127);
    /* Out of the terminal's foreground group, a write to the terminal would
     * stop the child under `stty tostop` unless SIGTTOU is ignored. */
    signal(SIGTTOU, SIG_IGN);
    reset_handled();
    sigprocmask(SIG_SETMASK, old, NULL);
}

/* Records pid (0 when the start failed) and restores the signal mask. */
static void child_started(pid_t pid, const sigset_t *old)
{
    running_child = (sig_atomic_t)pid;
    sigprocmask(SIG_SETMASK, old, NULL);
}

static void child_ended(void)
{
    running_child = 0;
}

/*
 * Forks a child for pd_proc_run() or pd_proc_run_forked(). In the child,
 * returns 0 after enter_child(). In the tool, records the child (see
 * child_started) and returns its pid, or returns -1 with errno set.
 * *started is the start time of the child's wall clock.
 */
static pid_t fork_child(double *started)
{
    fflush(NULL);
    sigset_t old;
    block_forwarded(&old);
    pid_t tool = getpid();
    *started = pd_proc_now();
    pid_t pid = fork();
    if (pid == 0) {
        enter_child(tool, &old);
        return 0;
    }
    int fork_errno = errno;
    if (pid > 0)
        setpgid(pid, pid); /* the child does it too, so whichever runs first sets it */
    child_started(pid > 0 ? pid : 0, &old);
    errno = fork_errno;
    return pid;
}

double pd_proc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double timeval_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Waits for pid and fills res; wall time is measured from started. */
static int wait_child(pid_t pid, double started, pd_proc_result *res, pd_err *err)
{
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    pid_t got;
    do {
        got = wait4(pid, &status, 0, &ru);
    } while (got < 0 && errno == EINTR);
    res->wall_seconds = pd_proc_now() - started;
    if (got < 0)
        return pd_err_set(err, PD_EIO, "waiting for child %d failed: %s", (int)pid,
                          strerror(errno));
    res->user_seconds = timeval_seconds(ru.ru_utime);
    res->sys_seconds = timeval_seconds(ru.ru_stime);
    res->max_rss_kb = ru.ru_maxrss;
    if (WIFEXITED(status)) {
        res->exit_code = WEXITSTATUS(status);
        res->term_signal = 0;
    } else {
        res->exit_code = -1;
        res->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    return PD_OK;
}

/* Opens path for a child's output. Returns the descriptor, or -1 with err set. */
static int open_output(const char *path, const char *stream, pd_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        pd_err_set(err, PD_EIO, "cannot open %s for the child's %s: %s", path, stream,
                   strerror(errno));
        return -1;
    }
    /* Above the standard streams, so that one dup2 cannot overwrite the other's source. */
    if (fd <= STDERR_FILENO) {
        int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        int saved = errno;
        close(fd);
        if (moved < 0) {
            pd_err_set(err, PD_EIO, "cannot open %s for the child's %s: %s", path, stream,
                       strerror(saved));
            return -1;
        }
        fd = moved;
    }
    return fd;
}

/*
 * Runs argv in a child made by fork() and exec, which unlike posix_spawn
 * can ask for a parent-death signal. The output files are opened here, so
 * that a failed open is named as such rather than as "cannot start". A
 * failed exec reports its errno through a close-on-exec pipe.
 */
int pd_proc_run(char *const argv[], const char *stdout_path, const char *stderr_path,
                pd_proc_result *out, pd_err *err)
{
    memset(out, 0, sizeof *out);
    int out_fd = -1, err_fd = -1, report[2] = {-1, -1};
    int rc = PD_OK;
    if (stdout_path != NULL && (out_fd = open_output(stdout_path, "stdout", err)) < 0)
        return PD_EIO;
    if (stderr_path != NULL && (err_fd = open_output(stderr_path, "stderr", err)) < 0) {
        rc = PD_EIO;
        goto out;
    }
    if (pipe2(report, O_CLOEXEC) != 0) {
        rc = pd_err_set(err, PD_EIO, "%s: cannot start: pipe failed: %s", argv[0], strerror(errno));
        goto out;
    }

    double started;
    pid_t pid = fork_child(&started);
    if (pid == 0) {
        if ((out_fd < 0 || dup2(out_fd, STDOUT_FILENO) >= 0) &&
            (err_fd < 0 || dup2(err_fd, STDERR_FILENO) >= 0))
            execvp(argv[0], argv);
        int code = errno;
        while (write(report[1], &code, sizeof code) < 0 && errno == EINTR) {
        }
        _exit(127);
    }
    int fork_errno = errno;
    close(report[1]);
    report[1] = -1;
    if (pid < 0) {
        rc = pd_err_set(err, PD_EIO, "%s: cannot start: fork failed: %s", argv[0],
                        strerror(fork_errno));
        goto out;
    }

    int exec_errno = 0;
    ssize_t got;
    while ((got = read(report[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
    }
    rc = wait_child(pid, started, out, err);
    child_ended();
    if (got == (ssize_t)sizeof exec_errno)
        rc = pd_err_set(err, PD_EIO, "%s: cannot start: %s", argv[0], strerror(exec_errno));
out:
    for (int i = 0; i < 2; i++) {
        if (report[i] >= 0)
            close(report[i]);
    }
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    return rc;
}

static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static void write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

int pd_proc_run_forked(pd_proc_fn fn, void *ctx, void *result, size_t size, pd_proc_result *res,
                       pd_err *err)
{
    memset(res, 0, sizeof *res);
    int fds[2];
    if (pipe(fds) != 0)
        return pd_err_set(err, PD_EIO, "pipe failed: %s", strerror(errno));
    double started;
    pid_t pid = fork_child(&started);
    if (pid < 0) {
        int sys = errno;
        close(fds[0]);
        close(fds[1]);
        return pd_err_set(err, PD_EIO, "fork failed: %s", strerror(sys));
    }
    if (pid == 0) {
        close(fds[0]);
        int rc = fn(ctx, result, size);
        write_full(fds[1], &rc, sizeof rc);
        write_full(fds[1], result, size);
        close(fds[1]);
        _exit(0);
    }

    close(fds[1]);
    int child_rc = PD_EINTERNAL;
    /* The child may write more than a pipe buffer, so read before waiting. */
    bool reported = read_full(fds[0], &child_rc, sizeof child_rc) == 0 &&
                    read_full(fds[0], result, size) == 0;
    close(fds[0]);
    int rc = wait_child(pid, started, res, err);
    child_ended();
    if (rc != PD_OK)
        return rc;
    if (!reported)
        return pd_err_set(err, PD_EINTERNAL, "child failed (exit %d, signal %d) before reporting",
                          res->exit_code, res->term_signal);
    return child_rc;
}

void pd_proc_format_command(char *const argv[], char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; argv[i] != NULL && len + 1 < cap; i++) {
        int w = snprintf(out + len, cap - len, "%s%s", i > 0 ? " " : "", argv[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

void pd_proc_default_parsediff(char *out, size_t cap)
{
    const char *env = getenv("PARSEDIFF_BIN");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, cap, "%s", env);
        return;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(out, cap, "%s/parsediff", self);
            if (access(out, X_OK) == 0)
                return;
            snprintf(out, cap, "%s/../parsediff", self);
            if (access(out, X_OK) == 0)
                return;
        }
    }
    snprintf(out, cap, "parsediff");
}

static bool executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

bool pd_proc_executable(const char *name)
{
    if (strchr(name, '/') != NULL)
        return executable_file(name);
    /* glibc's execvp finds programs in /bin or /usr/bin when PATH is unset (its default
     * path), so those are searched then. */
    const char *dirs = getenv("PATH");
    if (dirs == NULL)
        dirs = "/bin:/usr/bin";
    char candidate[4096];
    for (const char *p = dirs;;) {
        const char *end = strchr(p, ':');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        /* An empty PATH entry is the current directory. */
        int w = n == 0 ? snprintf(candidate, sizeof candidate, "./%s", name)
                       : snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n, p, name);
        if (w > 0 && (size_t)w < sizeof candidate && executable_file(candidate))
            return true;
        if (end == NULL)
            return false;
        p = end + 1;
    }
}
