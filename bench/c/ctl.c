// ctl: the workload the benchmark runs under each init (as PID 1's child).
// It reads one command per line on stdin and answers one line on stdout:
//   burst N        N orphan zombies re-parented to PID 1 at once; prints the
//                  time until PID 1 has reaped them all
//   rate R SECS    R orphans per second for SECS seconds, in batches of 2;
//                  prints max / p99 / mean zombies outstanding (sampled)
//   sig FIFO       from now on the SIGUSR1 handler writes its CLOCK_MONOTONIC
//                  stamp to FIFO (see sigsend.c)
//   quit           exits 0
// Between commands it sleeps in read(): that is the "idle" state.
// `ctl orphans N` (one-shot) leaves N zombies to its own parent's reaper.
//
// Orphans are made with vfork (fork costs ~1.4 ms on the benchmark VM, vfork
// ~60 us): a vforked P vforks the zombies-to-be, waits until every one is a
// zombie (waitid WNOWAIT), stamps the clock and exits, so they are all
// re-parented to PID 1 in one go. ctl reaps P; once waitpid(P) returns the
// kernel has re-parented them (that happens before P becomes a zombie).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ORPHANS 20000

static pid_t kids[MAX_ORPHANS];
static volatile long long p_stamp;  // written by the vforked P (shared memory)
static int sig_fd = -1;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_usr1(int sig) {
  (void)sig;
  long long t = now_ns();
  if (sig_fd >= 0) {
    ssize_t ignored = write(sig_fd, &t, sizeof t);
    (void)ignored;
  }
}

// Children of PID 1 other than ctl itself = zombies waiting for PID 1.
static int pid1_extra_children(void) {
  static char buf[1 << 18];
  int fd = open("/proc/1/task/1/children", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int count = 0, in_number = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) {
      int digit = buf[i] >= '0' && buf[i] <= '9';
      if (digit && !in_number) count++;
      in_number = digit;
    }
  }
  close(fd);
  return count - 1;
}

// In a vfork child: makes n zombie children and waits until all are zombies.
// Only async-signal-safe calls, no return from here (the caller _exits).
static void make_zombies(int n) {
  for (int i = 0; i < n; i++) {
    pid_t kid = vfork();
    if (kid == 0) _exit(0);
    kids[i] = kid;
  }
  for (int i = 0; i < n; i++) {
    if (kids[i] <= 0) continue;
    siginfo_t info;
    while (waitid(P_PID, (id_t)kids[i], &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {}
  }
}

// Creates n orphans for PID 1; returns P's stamp taken just before it exited.
static long long orphan_batch(int n) {
  pid_t p = vfork();
  if (p == 0) {
    make_zombies(n);
    p_stamp = now_ns();
    _exit(0);
  }
  if (p < 0) { perror("ctl: vfork"); exit(1); }
  int status;
  while (waitpid(p, &status, 0) < 0 && errno == EINTR) {}
  return p_stamp;
}

static void sleep_ns(long ns) {
  struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
  nanosleep(&ts, NULL);
}

static void burst(int n) {
  long long t_create = now_ns();
  long long t0 = orphan_batch(n);
  int first = pid1_extra_children();
  int polls = 0, left = first;
  // Sampling, not synchronisation: poll until PID 1 has reaped them all.
  while (left > 0) {
    sleep_ns(50000);
    left = pid1_extra_children();
    polls++;
    if (now_ns() - t0 > 20000000000LL) break;
  }
  long long t1 = now_ns();
  printf("burst n=%d reap_ns=%lld create_ns=%lld first=%d left=%d polls=%d\n",
         n, left > 0 ? -1 : t1 - t0, t0 - t_create, first, left, polls);
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

// The sampler runs on its own thread so that it samples every ~200 us no
// matter how long making a batch of orphans takes.
static volatile int sampling;
static int *samples, sample_capacity, sample_count;

static void *sampler(void *arg) {
  (void)arg;
  while (sampling) {
    int n = pid1_extra_children();
    if (sample_count < sample_capacity) samples[sample_count++] = n;
    sleep_ns(150000);
  }
  return NULL;
}

static void rate(int per_sec, double secs) {
  const int batch = 2;
  long interval = (long)(1e9 * batch / per_sec);
  long batches = (long)(secs * per_sec / batch);
  sample_capacity = (int)(secs * 20000) + 1000;
  sample_count = 0;
  samples = malloc(sizeof(int) * sample_capacity);
  sampling = 1;
  pthread_t thread;
  pthread_create(&thread, NULL, sampler, NULL);
  long long start = now_ns(), last_batch = 0;
  int late = 0;
  for (long b = 0; b < batches; b++) {
    long long due = start + b * interval;
    long long ahead = due - now_ns();
    if (ahead > 0) sleep_ns((long)ahead); else late++;
    last_batch = orphan_batch(batch);
  }
  // Sampling, not synchronisation: how long until the last ones are reaped.
  int left;
  while ((left = pid1_extra_children()) > 0 && now_ns() - last_batch < 10000000000LL) {}
  long long drain = now_ns() - last_batch;
  sampling = 0;
  pthread_join(thread, NULL);
  int used = sample_count;
  double sum = 0;
  for (int i = 0; i < used; i++) sum += samples[i];
  qsort(samples, used, sizeof(int), cmp_int);
  printf("rate per_sec=%d secs=%g orphans=%ld max=%d p99=%d mean=%.4f samples=%d drain_ns=%lld left=%d late=%d elapsed_ns=%lld\n",
         per_sec, secs, batches * batch, used ? samples[used - 1] : 0,
         used ? samples[(int)(used * 0.99)] : 0, used ? sum / used : 0, used,
         left > 0 ? -1 : drain, left, late, last_batch - start);
  free(samples);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "orphans") == 0) {
    int n = atoi(argv[2]);
    if (n < 1 || n > MAX_ORPHANS) return 2;
    make_zombies(n);
    return 0;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready pid=%d\n", getpid());
  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    char arg[4000];
    int n;
    double secs;
    if (sscanf(line, "burst %d", &n) == 1 && n > 0 && n <= MAX_ORPHANS) burst(n);
    else if (sscanf(line, "rate %d %lf", &n, &secs) == 2) rate(n, secs);
    else if (sscanf(line, "sig %3999s", arg) == 1) {
      if (sig_fd >= 0) close(sig_fd);
      sig_fd = open(arg, O_WRONLY | O_CLOEXEC);  // blocks until sigsend opens it
      printf("sig %s\n", sig_fd >= 0 ? "ok" : strerror(errno));
    } else if (strncmp(line, "quit", 4) == 0) return 0;
    else printf("error unknown command %s", line);
  }
  return 0;
}
