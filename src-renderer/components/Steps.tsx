// Wizard step indicator.
export function Steps({ steps, current }: { steps: string[]; current: number }) {
  return (
    <ol className="steps" aria-label="Steps">
      {steps.map((step, i) => (
        <li key={step} className={i === current ? 'current' : i < current ? 'done' : ''} aria-current={i === current ? 'step' : undefined}>
          <span className="step-number">{i + 1}</span> {step}
        </li>
      ))}
    </ol>
  );
}
