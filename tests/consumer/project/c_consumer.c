/* SPDX-License-Identifier: MIT */
/* A C99 program that uses the installed C API, built by consumer.cmake with pkg-config. */
#include <sigrelay.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  int signo = 0;
  if (sigrelay_signal_number("SIGUSR1", &signo) != 0 || signo != SIGUSR1) return 1;
  const int subscribed[] = {SIGUSR1};
  sigrelay_signals* s = NULL;
  if (sigrelay_signals_create(subscribed, 1, NULL, &s) != 0) return 2;
  raise(SIGUSR1);
  sigrelay_event e[4];
  size_t n = 0;
  if (sigrelay_signals_wait(s, 5000, e, 4, &n) != 0 || n != 1 || e[0].signo != SIGUSR1) return 3;
  sigrelay_signals_destroy(s);
  printf("OK %s\n", sigrelay_signal_name(e[0].signo));
  return 0;
}
