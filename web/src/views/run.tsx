export function RunPage(props: { runId: string }) {
  return <div class="page">Run {props.runId} (being built)</div>;
}
