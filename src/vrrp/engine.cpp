#include "vrrp/engine.hpp"

#include <pthread.h>

namespace l4lb::vrrp {

Engine::Engine(boost::asio::io_context& loop, Hooks hooks, const std::string& state_dir,
               int netlink_event_buffer)
    : work_(io_.get_executor()), to_loop_(loop), to_vrrp_(io_) {
  // Transitions are decided on the VRRP thread; the daemon acts on them (notify scripts, sync
  // daemons) on the loop.
  Hooks forward;
  if (hooks.on_transition)
    forward.on_transition = [this, hook = std::move(hooks.on_transition)](
                                const std::string& instance, net::Family family, State from,
                                State to) {
      to_loop_.send([hook, instance, family, from, to] { hook(instance, family, from, to); });
    };
  runtime_ = std::make_unique<Runtime>(io_, std::move(forward));
  runtime_->set_state_dir(state_dir);
  runtime_->set_netlink_event_buffer(netlink_event_buffer);
  lag_.start();
  thread_ = std::thread([this] { io_.run(); });
  // Shows in top -H / ps -L and perf sched, so that its CPU time can be told from the loop's.
  ::pthread_setname_np(thread_.native_handle(), "l4lb-vrrp");
}

Engine::~Engine() {
  work_.reset();
  io_.stop();
  thread_.join();
  // The thread is gone: the runtime and its sockets are torn down here, as before the move.
  lag_.stop();
  runtime_.reset();
}

void Engine::apply(std::vector<config::VrrpInstance> instances) {
  to_vrrp_.send([this, instances = std::move(instances)] { runtime_->apply(instances); });
}

void Engine::set_tracked_service_weight(const std::string& instance, int weight) {
  to_vrrp_.send(
      [this, instance, weight] { runtime_->set_tracked_service_weight(instance, weight); });
}

void Engine::shutdown(std::function<void()> done) {
  to_vrrp_.send([this, done = std::move(done)]() mutable {
    lag_.stop();
    runtime_->shutdown([this, done = std::move(done)] {
      if (done) to_loop_.send(done);
    });
  });
}

void Engine::status(std::function<void(Status)> done) {
  to_vrrp_.send([this, done = std::move(done)] {
    Status s{runtime_->status(), runtime_->netlink_stats(), lag_.histogram()};
    to_loop_.send([done, s = std::move(s)]() mutable { done(std::move(s)); });
  });
}

void Engine::on_thread(std::function<void()> fn) { to_vrrp_.send(std::move(fn)); }

}  // namespace l4lb::vrrp
