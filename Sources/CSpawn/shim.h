#ifndef CSPAWN_SHIM_H
#define CSPAWN_SHIM_H
// posix_spawn for a job's child process: glibc's Linux extensions (close every inherited
// descriptor, start in the scratch directory) and the wait-status macros Swift cannot import.
#include <spawn.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

// glibc 2.34+ (Debian 12 has 2.36); declared here because they need _GNU_SOURCE.
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);
extern int pipe2(int fds[2], int flags);

/// A pipe whose two ends are close-on-exec (the child gets its copies through dup2 only).
static inline int cspawn_pipe(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

static inline int cspawn_close_from(posix_spawn_file_actions_t *a, int from) { return posix_spawn_file_actions_addclosefrom_np(a, from); }
static inline int cspawn_chdir(posix_spawn_file_actions_t *a, const char *path) { return posix_spawn_file_actions_addchdir_np(a, path); }

/// Every signal at its default action and none blocked in the child (the worker ignores
/// SIGPIPE and blocks what its signal handling needs), in its own process group so a
/// terminal's Ctrl-C reaches the worker, which decides what happens to its jobs.
static inline int cspawn_reset_signals(posix_spawnattr_t *attr) {
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (posix_spawnattr_setsigdefault(attr, &all) != 0) return -1;
    if (posix_spawnattr_setsigmask(attr, &none) != 0) return -1;
    if (posix_spawnattr_setpgroup(attr, 0) != 0) return -1;
    return posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
}

static inline int cspawn_exited(int status) { return WIFEXITED(status); }
static inline int cspawn_exit_status(int status) { return WEXITSTATUS(status); }
static inline int cspawn_signaled(int status) { return WIFSIGNALED(status); }
static inline int cspawn_term_signal(int status) { return WTERMSIG(status); }

#endif
