/* Progress lines on standard error (progress.h). */
#include "progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* On a terminal: first line after 0.5 s, then at most every 0.25 s; elsewhere a line a second. */
#define FIRST_NS 500000000LL
#define TTY_EVERY_NS 250000000LL
#define PIPE_EVERY_NS 1000000000LL

static long long ns_between(const struct timespec *a, const struct timespec *b)
{
	return (long long)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

void cli_progress_init(struct cli_progress *p, enum cli_progress_mode mode, const char *name, size_t combos)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(2);
	p->on = mode == CLI_PROGRESS_ON || (mode == CLI_PROGRESS_AUTO && p->tty);
	p->name = name;
	p->combos = combos;
	pthread_mutex_init(&p->lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->last = p->start;
}

/* 1234567 -> "1.23 M" (for rates and large counts), below 10,000 the number itself. */
static void human(double v, char *buf, size_t len)
{
	if (v < 10000)
		snprintf(buf, len, "%.0f", v);
	else if (v < 1e6)
		snprintf(buf, len, "%.1f k", v / 1e3);
	else if (v < 1e9)
		snprintf(buf, len, "%.2f M", v / 1e6);
	else
		snprintf(buf, len, "%.2f G", v / 1e9);
}

static void clock_text(long long ns, char *buf, size_t len)
{
	long long s = ns / 1000000000LL;

	if (s >= 3600)
		snprintf(buf, len, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%lld:%02lld", s / 60, s % 60);
}

/* Print the line (the lock held). */
static void show(struct cli_progress *p, const struct timespec *now, bool final)
{
	long long el = ns_between(&p->start, now);
	double secs = el > 0 ? (double)el / 1e9 : 0;
	char done[32], total[32], rate[32], elapsed[32], left[32];
	char line[256];
	int n;

	human((double)p->events, done, sizeof(done));
	human(secs > 0 ? (double)p->events / secs : 0, rate, sizeof(rate));
	clock_text(el, elapsed, sizeof(elapsed));
	if (p->combos) {
		n = snprintf(line, sizeof(line), "ptsim compare: %zu of %zu combinations done, %zu running, %s events, "
						  "%s events/s, %s", p->combos_done, p->combos, p->running, done, rate,
			     elapsed);
	} else if (p->total) {
		human((double)p->total, total, sizeof(total));
		double frac = (double)p->events / (double)p->total;
		n = snprintf(line, sizeof(line), "ptsim: %s: %s of %s events (%.0f%%), %s events/s, %s", p->name, done,
			     total, frac * 100, rate, elapsed);
		if (!final && frac > 0.001 && frac < 1) {
			clock_text((long long)((double)el * (1 - frac) / frac), left, sizeof(left));
			snprintf(line + n, sizeof(line) - (size_t)n, ", about %s left", left);
		}
	} else {
		n = snprintf(line, sizeof(line), "ptsim: %s: %s events, %s events/s, %s", p->name, done, rate, elapsed);
	}
	(void)n;
	if (p->tty)
		fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
	else
		fprintf(stderr, "%s\n", line);
	fflush(stderr);
	p->shown = true;
	p->shown_events = p->events;
	p->last = *now;
}

/* Print if it is time to (the lock held). */
static void maybe_show(struct cli_progress *p)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ns_between(&p->start, &now) < (p->tty ? FIRST_NS : 0))
		return;
	if (p->shown && ns_between(&p->last, &now) < (p->tty ? TTY_EVERY_NS : PIPE_EVERY_NS))
		return;
	show(p, &now, false);
}

void cli_progress_hook(void *ctx, uint64_t done, uint64_t total)
{
	struct cli_progress_run *r = ctx;
	struct cli_progress *p = r->p;

	if (!p->on)
		return;
	pthread_mutex_lock(&p->lock);
	p->events += done - r->done;
	if (!p->combos)
		p->total = total;
	r->done = done;
	r->total = total;
	maybe_show(p);
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_combo(struct cli_progress *p, bool start)
{
	if (!p->on)
		return;
	pthread_mutex_lock(&p->lock);
	if (start) {
		p->running++;
	} else {
		p->running--;
		p->combos_done++;
	}
	maybe_show(p);
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_finish(struct cli_progress *p)
{
	struct timespec now;

	pthread_mutex_lock(&p->lock);
	/* A line per report elsewhere than on a terminal: the last one may already say it all. */
	if (p->on && p->shown && (p->tty || p->events != p->shown_events || p->combos)) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		show(p, &now, true);
	}
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
}
