/**
 * Generates demo-arith from a seed: one- and two-step word problems in GSM8K's format — a question, and an answer
 * whose worked steps use GSM8K's <<calculation>> annotations and end with "#### N" — small enough for the builtin
 * models, so `mceval run` exercises generation, filters and exact match offline.
 */
import { Rng } from '../../engine/rng.js';
import type { Gsm8kExample } from '../loaders/gsm8k.js';

const NAMES = ['Ana', 'Ben', 'Cara', 'Dev', 'Eli', 'Fay', 'Gus', 'Hana', 'Ivo', 'Jun'];
const ITEMS = ['apples', 'books', 'coins', 'stamps', 'pencils', 'shells', 'cards', 'marbles'];

function oneStep(rng: Rng): Gsm8kExample {
  const name = NAMES[rng.integer(NAMES.length)]!;
  const item = ITEMS[rng.integer(ITEMS.length)]!;
  const a = 2 + rng.integer(30);
  const b = 1 + rng.integer(20);
  if (rng.integer(2) === 0) {
    return {
      question: `${name} has ${a} ${item} and gets ${b} more. How many ${item} does ${name} have now?`,
      answer: `${name} has ${a}+${b}=<<${a}+${b}=${a + b}>>${a + b} ${item}.\n#### ${a + b}`,
    };
  }
  const big = a + b;
  return {
    question: `${name} has ${big} ${item} and gives away ${b}. How many ${item} are left?`,
    answer: `${name} has ${big}-${b}=<<${big}-${b}=${a}>>${a} ${item} left.\n#### ${a}`,
  };
}

function twoStep(rng: Rng): Gsm8kExample {
  const name = NAMES[rng.integer(NAMES.length)]!;
  const item = ITEMS[rng.integer(ITEMS.length)]!;
  const boxes = 2 + rng.integer(5);
  const each = 2 + rng.integer(9);
  const extra = 1 + rng.integer(10);
  const total = boxes * each;
  return {
    question: `${name} buys ${boxes} boxes of ${item} with ${each} in each box, then finds ${extra} more. How many ${item} does ${name} have?`,
    answer:
      `The boxes hold ${boxes}*${each}=<<${boxes}*${each}=${total}>>${total} ${item}.\n` +
      `With the extra ones that is ${total}+${extra}=<<${total}+${extra}=${total + extra}>>${total + extra}.\n#### ${total + extra}`,
  };
}

export function generateDemoArith(seed = 2024): { train: Gsm8kExample[]; test: Gsm8kExample[] } {
  const rng = new Rng(seed);
  const seen = new Set<string>();
  const draw = (count: number) => {
    const out: Gsm8kExample[] = [];
    while (out.length < count) {
      const example = rng.integer(3) === 0 ? twoStep(rng) : oneStep(rng);
      if (seen.has(example.question)) continue;
      seen.add(example.question);
      out.push(example);
    }
    return out;
  };
  return { train: draw(400), test: draw(40) };
}
