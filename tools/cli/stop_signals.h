#pragma once
// SIGINT and SIGTERM as a request to stop, for commands that can end early but cleanly (a publish
// flushes what it produced and prints its summary). While a StopSignals lives, the two signals
// are blocked in the calling thread and in the threads it starts (librdkafka's among them), so
// they stay pending instead of killing the process; requested() takes one if pending. Create it
// before any thread that should not receive them. A signal the process inherited as ignored stays
// ignored.

#include <csignal>

namespace tfe::cli {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();  // restores the signal mask; a signal still pending is taken first
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // True once SIGINT or SIGTERM has arrived (and from then on). Does not block.
  bool requested();
  int signal() const { return signal_; }  // the one that arrived, 0 before

 private:
  sigset_t set_{};
  sigset_t previous_{};
  int signal_ = 0;
};

}  // namespace tfe::cli
