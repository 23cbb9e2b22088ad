#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
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
