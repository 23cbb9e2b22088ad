// The Linux-only system headers the HTTP server needs (Glibc's Swift module
// leaves them out), plus wrappers for what Swift cannot call directly.
#ifndef CLINUX_H
#define CLINUX_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <signal.h>
#include <pthread.h>
#include <sys/socket.h>

// pthread_setname_np is a GNU extension; this keeps _GNU_SOURCE out of Swift.
int clinux_set_thread_name(pthread_t thread, const char *name);

// accept4 is a GNU extension too.
int clinux_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

// Joins `thread`, waiting at most `seconds` (pthread_timedjoin_np, GNU);
// 0 once joined, ETIMEDOUT if it is still running.
int clinux_join_thread(pthread_t thread, double seconds);

// Installs `handler` for `signo` with SA_RESTART and an empty mask.
int clinux_install_signal_handler(int signo, void (*handler)(int));

// The cores this process can use: the CPUs it may run on (taskset, a cpuset),
// capped by its container's CPU limit (cgroup v2 cpu.max or v1 CFS quota,
// rounded up). sysconf counts the host's cores, however few a container gets.
int clinux_usable_cores(void);
// The same, reading the cgroup files under `cgroup_root` (tests give their own).
int clinux_usable_cores_in(const char *cgroup_root);

#endif
