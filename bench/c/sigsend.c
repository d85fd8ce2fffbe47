// sigsend PID FIFO COUNT WARMUP INTERVAL_MS
// Sends SIGUSR1 to PID (an init, from outside its namespace) COUNT+WARMUP
// times, INTERVAL_MS apart. Before each kill it stamps CLOCK_MONOTONIC; the
// child's handler (ctl) writes its own CLOCK_MONOTONIC stamp to FIFO. Prints
// one latency in ns per line for the COUNT measured signals. CLOCK_MONOTONIC
// is the same clock in every pid namespace. A signal whose stamp has not come
// back within 2 s is reported as a line "lost" (and the run goes on).
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: sigsend PID FIFO COUNT WARMUP INTERVAL_MS\n"); return 2; }
  pid_t pid = atoi(argv[1]);
  int count = atoi(argv[3]), warmup = atoi(argv[4]);
  long interval_ms = atol(argv[5]);
  alarm(60 + (count + warmup) * (interval_ms + 2000) / 1000);  // last resort
  int fd = open(argv[2], O_RDONLY);  // blocks until ctl opens the write end
  if (fd < 0) { perror("sigsend: open"); return 1; }
  for (int i = 0; i < count + warmup; i++) {
    long long sent = now_ns();
    if (kill(pid, SIGUSR1) < 0) { perror("sigsend: kill"); return 1; }
    long long got = 0;
    for (;;) {
      struct pollfd pfd = { fd, POLLIN, 0 };
      long long waited_ms = (now_ns() - sent) / 1000000;
      int ready = waited_ms >= 2000 ? 0 : poll(&pfd, 1, (int)(2000 - waited_ms));
      if (ready < 0) continue;  // EINTR
      if (ready == 0) { got = 0; break; }
      ssize_t n = read(fd, &got, sizeof got);
      if (n != sizeof got) { fprintf(stderr, "sigsend: short read %zd\n", n); return 1; }
      if (got >= sent) break;  // else a stamp of an earlier, late signal: skip it
    }
    if (i >= warmup) {
      if (got) printf("%lld\n", got - sent);
      else printf("lost\n");
    }
    struct timespec pause = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
    nanosleep(&pause, NULL);
  }
  return 0;
}
