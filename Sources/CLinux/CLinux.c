#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "CLinux.h"

int clinux_set_thread_name(pthread_t thread, const char *name) {
    char shortName[16];
    strncpy(shortName, name, sizeof shortName - 1);
    shortName[sizeof shortName - 1] = '\0';
    return pthread_setname_np(thread, shortName);
}

int clinux_join_thread(pthread_t thread, double seconds) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);  // the clock pthread_timedjoin_np measures by
    if (seconds > 0) {
        long long nanoseconds = until.tv_nsec + (long long)(seconds * 1e9);
        until.tv_sec += nanoseconds / 1000000000;
        until.tv_nsec = nanoseconds % 1000000000;
    }
    return pthread_timedjoin_np(thread, NULL, &until);
}

int clinux_install_signal_handler(int signo, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return sigaction(signo, &action, NULL);
}

int clinux_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

// Reads up to two numbers from a file: how many were read (0 when it cannot be read).
static int read_numbers(const char *path, long long *a, long long *b) {
    FILE *file = fopen(path, "r");
    if (!file) return 0;
    int n = fscanf(file, "%lld %lld", a, b);
    fclose(file);
    return n > 0 ? n : 0;
}

int clinux_usable_cores_in(const char *cgroup_root) {
    cpu_set_t set;
    long long cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    // cgroup v2 says "max 100000" or "50000 100000" (quota and period, in µs); v1 has two files.
    char v2[4096], v1_quota[4096], v1_period[4096];
    snprintf(v2, sizeof v2, "%s/cpu.max", cgroup_root);
    snprintf(v1_quota, sizeof v1_quota, "%s/cpu/cpu.cfs_quota_us", cgroup_root);
    snprintf(v1_period, sizeof v1_period, "%s/cpu/cpu.cfs_period_us", cgroup_root);
    long long quota = 0, period = 0, unused;
    if (read_numbers(v2, &quota, &period) != 2
        && (read_numbers(v1_quota, &quota, &unused) != 1 || read_numbers(v1_period, &period, &unused) != 1)) {
        quota = 0;  // no limit (v1 says -1)
    }
    if (quota > 0 && period > 0 && (quota + period - 1) / period < cores) cores = (quota + period - 1) / period;
    return cores > 0 ? (int)cores : 1;
}

// A container's own cgroup is the root of its cgroup namespace.
int clinux_usable_cores(void) { return clinux_usable_cores_in("/sys/fs/cgroup"); }
